from policy_client.cli import main

raise SystemExit(main(prog="python -m policy_client"))
