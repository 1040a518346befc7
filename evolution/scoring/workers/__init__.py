"""Evaluation workers: where plans are merged and scored when several candidates are in flight.

A `WorkerPool` (pool.py) holds N slots taking jobs from one queue; each slot owns one evaluator
with its own resident sources, in a thread of this process (`ThreadHandle`), a child process
(processes.py) or a Ray actor (ray_actors.py). A worker that dies is replaced and its job comes
back as `died` for the session to re-queue; before any source is loaded, every worker reports
its device and `memory.py` says whether the sources fit there.
"""
