from tondonate.cli import main

main()
