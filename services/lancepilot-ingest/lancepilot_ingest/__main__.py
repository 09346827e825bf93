from lancepilot_ingest.main import main

main()
