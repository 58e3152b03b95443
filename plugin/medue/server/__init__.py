"""MedUE's server plugin: protect jobs over HTTP, mounted on MONAI Label's FastAPI app.

Split by concept, data flowing one way:

- ``protect_request``: a JSON job request checked and turned into the engine's settings;
- ``store``: jobs on disk (request, status, cancel flag), so a restart loses nothing;
- ``worker``: the background process that runs one job through the same engine functions as
  ``medue protect`` (``medue.job.protect_dataset``), writing its status as it goes;
- ``supervisor``: starts workers, and restarts the worker of a job that lost it (server or worker
  killed), which then resumes from the job's own record of finished cases;
- ``router``: the HTTP endpoints under ``/protect`` (HTTP only: no engine calls);
- ``app``: MONAI Label's app with the router included (``--uvicorn_app medue.server.app:app``).
"""
