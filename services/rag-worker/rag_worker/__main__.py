from rag_worker.main import main

main()
