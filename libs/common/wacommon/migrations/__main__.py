from wacommon.migrations import main

main()
