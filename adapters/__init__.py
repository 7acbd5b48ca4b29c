"""Adapters: the code that talks to the world (database, Temporal, files, processes) around the pure rules of `aftersales`."""
