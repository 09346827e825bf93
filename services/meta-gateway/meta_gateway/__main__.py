from meta_gateway.main import main

main()
