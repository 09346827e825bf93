from followup.main import main

main()
