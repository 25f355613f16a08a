"""The command line shared by the experiment drivers (tools/looped_experiments.py,
tools/icl_experiments.py): read a config, refuse an existing --out, run, and
write the results JSON once, at the end, through a temporary file."""
import argparse
import json
import os
import sys
import time


class ConfigError(ValueError):
    pass


def main(argv, *, prog, doc, load_config, run, set_threads):
    ap = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("--out", required=True, help="results JSON to write (must not exist)")
    ap.add_argument("--threads", type=int, default=0, help="OpenMP/BLAS threads (0: leave as is)")
    args = ap.parse_args(argv)
    try:
        if os.path.exists(args.out):
            raise ConfigError(f"--out: {args.out} exists; refusing to overwrite it")
        cfg = load_config(args.config)
        if args.threads:
            set_threads(args.threads)
        start = time.time()
        results = run(cfg, log=lambda s: print(s, file=sys.stderr, flush=True))
        results["seconds"] = time.time() - start
    except (ConfigError, ValueError, OSError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    tmp = args.out + ".partial"
    with open(tmp, "w") as f:
        json.dump(results, f)
    os.replace(tmp, args.out)
    print(f"{prog}: wrote {args.out}")
    return 0
