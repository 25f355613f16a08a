"""auto against the variants it chooses among: at every point where auto ran,
its regret, its median time over the fastest measured algorithm that met the
target error (issue 14: within 1.25x on at least 90% of the points)."""
import math
import statistics
from collections import Counter, defaultdict

from .results import is_oracle, is_selector, succeeded

REGRET_LIMIT = 1.25


def chosen_spec(p):
    """The spec auto ran (its info key chosen[<spec>])."""
    for key in p.get("info", {}):
        if key.startswith("chosen[") and key.endswith("]"):
            return key[len("chosen["):-1]
    return None


def regret_rows(points):
    """One dict per auto point: target, what it chose, its time and error, the
    best contender (fastest non-selector, non-oracle point that met the target,
    its error measured against the float64 reference) and the regret. A point
    without a measured error on either side is left out (nothing to hold it to)."""
    by_point = defaultdict(list)
    for p in points:
        by_point[(p["mode"], p["dtype"], p["d"], p["L"], p["norm"])].append(p)
    rows = []
    for key, ps in sorted(by_point.items()):
        for a in (p for p in ps if is_selector(p)):
            if a.get("status") == "ok" and not a.get("error"):
                continue
            target = a.get("info", {}).get("target_error") or _target_of(a)
            met = [p for p in ps if not is_selector(p) and not is_oracle(p) and p.get("error")
                   and succeeded(p, target)]
            best = min(met, key=lambda p: p["median_s"]) if met else None
            row = dict(mode=key[0], dtype=key[1], d=key[2], L=key[3], norm=key[4], target=target,
                       spec=a["spec"], status=a.get("status"), best=best and best["algorithm"],
                       best_s=best and best["median_s"])
            if a.get("status") == "ok":
                chose = chosen_spec(a)
                # The chosen algorithm's own run at this point (the sweep's spec of
                # the same name): its time over the best is the choice's regret,
                # auto's plan aside.
                alone = [p for p in ps if chose and p["algorithm"].partition(":")[0] == chose.partition(":")[0]
                         and p.get("status") == "ok" and not is_selector(p)]
                row.update(chose=chose, seconds=a["median_s"], error=a["error"]["max_rel"],
                           met=a["error"]["max_rel"] <= target,
                           regret=a["median_s"] / best["median_s"] if best else math.nan,
                           choice_regret=alone[0]["median_s"] / best["median_s"] if best and alone else math.nan)
                row["passed"] = row["met"] and best is not None and row["regret"] <= REGRET_LIMIT
            else:  # refused: right when nothing met the target
                row.update(chose=None, seconds=math.nan, error=math.nan, met=False, regret=math.nan,
                           choice_regret=math.nan, passed=best is None)
            rows.append(row)
    return rows


def _target_of(p):
    for option in p["spec"].partition(":")[2].split(","):
        name, _, value = option.partition("=")
        if name == "target_error":
            return float(value)
    return 1e-3


def section_auto(points):
    rows = regret_rows(points)
    if not rows:
        return []
    passed = sum(r["passed"] for r in rows)
    regrets = sorted(r["regret"] for r in rows if not math.isnan(r["regret"]))
    lines = ["## auto against the best measured variant", "",
             f"At every point where `auto` ran: its regret, its median time over that of the fastest "
             f"other algorithm that met the target error (measured against float64). A point passes when "
             f"auto met the target and its regret is at most {REGRET_LIMIT} (or, with nothing meeting "
             f"the target, when auto refused). **{passed} of {len(rows)} points pass "
             f"({100 * passed / len(rows):.0f}%)**.", ""]
    if regrets:
        q = lambda f: regrets[min(len(regrets) - 1, int(f * (len(regrets) - 1) + 0.5))]  # noqa: E731
        choice = [r["choice_regret"] for r in rows if not math.isnan(r.get("choice_regret", math.nan))]
        good_choice = sum(1 for c in choice if c <= REGRET_LIMIT)
        lines += [f"Regret: median {statistics.median(regrets):.3g}, 90th percentile {q(0.9):.3g}, "
                  f"max {regrets[-1]:.3g}; auto missed the target at "
                  f"{sum(1 for r in rows if r['status'] == 'ok' and not r['met'])} points. Its choice alone (the "
                  f"chosen algorithm's own time at the point over the best, auto's plan aside) is within "
                  f"{REGRET_LIMIT} at {good_choice} of {len(choice)} points: the rest of the regret is the "
                  f"plan's cost and the timing noise between separately timed runs.", ""]
    choices = Counter((r["chose"] or "refused").partition(":")[0] for r in rows)
    bests = Counter((r["best"] or "none").partition(":")[0] for r in rows)
    lines += ["| | " + " | ".join(sorted(set(choices) | set(bests))) + " |",
              "|---|" + "---|" * len(set(choices) | set(bests))]
    for name, counts in (("auto chose", choices), ("fastest that met the target", bests)):
        lines.append(f"| {name} | " + " | ".join(str(counts.get(k, 0)) for k in sorted(set(choices) | set(bests))) + " |")
    failed = [r for r in rows if not r["passed"]]
    if failed:
        lines += ["", "Points that did not pass:", "",
                  "| mode | d | L | norm | auto chose | auto s | auto error | fastest that met | its s | regret | "
                  "choice's regret |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in failed:
            lines.append(f"| {r['mode']} | {r['d']} | {r['L']} | {r['norm']:g} | {r['chose'] or r['status']} | "
                         f"{r['seconds']:.4g} | {r['error']:.2g} | {r['best'] or '-'} | "
                         f"{r['best_s'] if r['best_s'] is None else format(r['best_s'], '.4g')} | {r['regret']:.3g} | "
                         f"{r['choice_regret']:.3g} |")
    return lines + [""]
