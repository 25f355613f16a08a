"""The one top-level handler of the Python command-line tools (lorafgc_report.py,
the experiment drivers, benchmarks/lora/torch_compare.py): any failure the tool
did not turn into its own message becomes one line "<prog>: error: <what>" on
stderr and exit status 2; LORAFGC_TRACEBACK=1 shows the traceback as well.
Also the scripts' one way of writing a results file (write_json_whole)."""
import json
import os
import sys
import traceback


def describe(error):
    """One line for an exception: its type where the message alone says little."""
    if isinstance(error, RecursionError):
        return "input nested too deeply to read"
    if isinstance(error, MemoryError):
        return "out of memory (lower the sizes)"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def guarded(prog, main, argv=None):
    """main(argv)'s exit status; 2 after any exception but SystemExit and KeyboardInterrupt."""
    try:
        return main(argv)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as error:  # noqa: B902 -- the point is to catch everything
        if os.environ.get("LORAFGC_TRACEBACK"):
            traceback.print_exc()
        print(f"{prog}: error: {describe(error)}", file=sys.stderr)
        return 2


def write_json_whole(path, obj):
    """obj as JSON at path, written to path.tmp and moved over path: a reader never
    sees a torn file, and a write that fails leaves the old one as it was."""
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(path + ".tmp", path)
