"""The application: assembling the service from the core, the Matrix side and the features
(assembly.py, service.py), the `yakuba` CLI, logs, bootstrap of the bots and admin room, and
the embedded development stack (devstack/).

May touch: everything — this is where the parts are wired together.
"""
