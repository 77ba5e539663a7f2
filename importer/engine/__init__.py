"""The engine: plan every row into an action, then execute each action's request exactly once.

Read in this order: settings, actions, match, plan, ledger, send, rows, job. Nothing is
re-exported here (import the module you need, or the public API from `importer`), so
importing one engine module never drags the others in.
"""
