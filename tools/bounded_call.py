"""One call of a lorafgc gradient algorithm in a separate process, stopped once it
has run past a time limit.

A measurement that only needs to know whether a call would take longer than a
limit (auto_regret.py: a contender whose first call takes over 3x the fastest
cannot be the best) need not wait for it: at d = 32 a polynomial contender's
first call can take seconds where exact's takes milliseconds. The call runs in a
spawned process (not forked: OpenMP's threads do not survive a fork), which
signals when it is ready, so that neither its start nor its import counts
against the limit."""
import multiprocessing

# How long the worker may take to start and import lorafgc before the call.
START_SECONDS = 120


def _worker(conn, instance, spec):
    import lorafgc  # noqa: F401 -- imported before the clock starts
    conn.send("ready")
    try:
        lorafgc.lora.gradients(**instance, algorithm=spec)
    except ValueError:
        pass  # refused: the caller's own call will say so
    conn.send("done")


def finishes_within(instance, spec, seconds):
    """Whether lorafgc.lora.gradients(**instance, algorithm=spec) returns (or is
    refused) within `seconds` of starting; the call is stopped when it does not."""
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_worker, args=(sender, instance, spec), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(START_SECONDS) or receiver.recv() != "ready":
            raise RuntimeError(f"the worker for {spec} did not start within {START_SECONDS} s")
        if not receiver.poll(seconds):
            return False
        receiver.recv()
        return True
    except EOFError:
        raise RuntimeError(f"the worker for {spec} ended without a result (exit code {process.exitcode})") from None
    finally:
        if process.is_alive():
            process.kill()
        process.join()
