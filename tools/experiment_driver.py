"""What the experiment drivers (tools/looped_experiments.py,
tools/icl_experiments.py) share: reading and checking a config, and the command
line: refuse an existing --out, run, and write the results JSON once, at the
end, through a temporary file."""
import argparse
import json
import os
import sys
import time

import command_line


class ConfigError(ValueError):
    pass


def check_keys(table, known, where, required=(), section=None):
    """Refuses a config, or its section named section, that is not a JSON object,
    holds a key outside known, or lacks one of required; the message names the keys."""
    keys = f"{section} key(s)" if section else "key(s)"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: {section or 'the config'} must be a JSON object, got {json.dumps(table)}")
    unknown = set(table) - set(known)
    if unknown:
        raise ConfigError(f"{where}: unknown {keys} {sorted(unknown)} (known: {sorted(known)})")
    missing = set(required) - set(table)
    if missing:
        raise ConfigError(f"{where}: missing {keys} {sorted(missing)}")


def read_config(path, known, required=(), sections=None):
    """The config in path with its keys checked, and those of its sections
    ({section: its known keys}, each a JSON object where present); "name"
    defaults to the file's base name."""
    try:
        with open(path) as f:
            cfg = json.load(f)
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e})")
    check_keys(cfg, known, path, required)
    for section, keys in (sections or {}).items():
        check_keys(cfg.get(section, {}), keys, path, section=section)
    cfg.setdefault("name", os.path.splitext(os.path.basename(path))[0])
    return cfg


def main(argv, *, prog, doc, load_config, run, set_threads, threads_help="OpenMP/BLAS threads (0: leave as is)"):
    return command_line.guarded(prog, lambda a: _main(a, prog=prog, doc=doc, load_config=load_config, run=run,
                                                      set_threads=set_threads, threads_help=threads_help), argv)


def _main(argv, *, prog, doc, load_config, run, set_threads, threads_help):
    ap = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("--out", required=True, help="results JSON to write (must not exist)")
    ap.add_argument("--threads", type=int, default=0, help=threads_help)
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
    # Written beside, then linked into place: a file that appeared at --out while the
    # run went on is not replaced (the results stay in the .partial file).
    tmp = args.out + f".{os.getpid()}.partial"
    with open(tmp, "w") as f:
        json.dump(results, f)
    try:
        os.link(tmp, args.out)
    except FileExistsError:
        print(f"{prog}: --out: {args.out} appeared during the run; results left in {tmp}", file=sys.stderr)
        return 2
    os.unlink(tmp)
    print(f"{prog}: wrote {args.out}")
    return 0
