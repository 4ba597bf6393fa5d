"""The paper's descriptive tables as tidy, long-format cells, one value per replication.

Statistical analyses: "Continuous variables were reported as means +/- SD, discrete variables
were reported as N's and percentages." Each cell is (table, row, column, replication, value):

- ``row`` is an item column (``sat_time``), a categorical level (``gender=female``) or ``N``;
- ``column`` is ``<group>_<stat>``: group ``provider``/``consumer``/``all``/a wave name/
  ``<role>_<wave>``; stat ``n`` (yes answers or level count), ``of`` (answered), ``pct``
  (100 n/of), ``mean``, ``sd`` (ddof 1).

Tables: ``table1`` (baseline by role), ``tableS1`` (by role and wave), ``retention`` (recruited,
retained, evaluated by role and wave: Results, response rates), ``table2``/``tableS2`` (evaluated
providers' satisfaction, overall/by wave), ``stress_reasons``, ``table3``/``tableS3`` (benefits by
role, by role and wave), ``table4``/``tableS4`` (evaluated consumers' satisfaction), ``caregivers``
(participating caregivers: Results, "Caregivers"), ``sessions`` (held before follow-up, group
share, content shares: Methods, intervention). Follow-up tables use evaluated persons only, and
percentages are of those who answered the item, as the paper's (n = 12 providers, n = 42 consumers).

All computation is ``groupby`` over replication and group: no loop over replications.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import instruments as ins
from . import prep as P
from .grouped import Grouped, level_codes

CELL_COLUMNS = ["table", "row", "column", "replication", "value"]


class Rows:
    """Some rows of a frame (all of them, or those at the positions ``at``), whose columns are read as
    numpy arrays converted once per frame and shared by every subset (:meth:`where`): filtering a
    DataFrame copies every column, and the tables take the persons a dozen ways."""

    def __init__(self, df: pd.DataFrame, at: np.ndarray | None = None, cache: dict | None = None):
        self.df, self.at, self.columns = df, at, df.columns
        self._cache: dict[tuple, Any] = {} if cache is None else cache

    def __len__(self) -> int:
        return len(self.df) if self.at is None else len(self.at)

    def where(self, mask: np.ndarray) -> Rows:
        """These rows where ``mask`` (one boolean per row of these) is true."""
        if len(mask) != len(self):
            raise ValueError(f"Rows.where: a mask of {len(mask)} values for {len(self)} rows")
        idx = np.flatnonzero(mask)
        return Rows(self.df, idx if self.at is None else self.at[idx], self._cache)

    def _whole(self, key: tuple, make: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _take(self, x: np.ndarray) -> np.ndarray:
        return x if self.at is None else x[self.at]

    def values(self, col: str) -> np.ndarray:
        return self._take(self._whole(("values", col), lambda: self.df[col].to_numpy(dtype=None)))

    def floats(self, col: str) -> np.ndarray:
        return self._take(self._whole(("floats", col), lambda: self.df[col].to_numpy(dtype=float)))

    def objects(self, col: str) -> np.ndarray:
        return self._take(self._whole(("objects", col), lambda: self.df[col].to_numpy(dtype=object)))

    def matrix(self, cols: list[str]) -> np.ndarray:
        """The columns as a float matrix (:func:`sim.analysis.grouped.matrix`)."""
        return np.column_stack([self.floats(c) for c in cols]) if cols else np.zeros((len(self), 0))

    def factorized(self, col: str) -> tuple[np.ndarray, list[str]]:
        """Each row's code in the column's distinct values (missing included), and those values as text
        (of the whole frame: some may not occur in these rows)."""
        codes, names = self._whole(("factorized", col), lambda: _factorize(self.df[col]))
        return self._take(codes), names

    def level_codes(self, col: str, levels: tuple[str, ...]) -> np.ndarray:
        """Each row's position in ``levels`` (-1: another value, or missing)."""
        key = ("levels", col, tuple(levels))
        return self._take(self._whole(key, lambda: level_codes(self.df[col].to_numpy(dtype=object), levels)))


def _factorize(s: pd.Series) -> tuple[np.ndarray, list[str]]:
    codes, uniques = pd.factorize(s, use_na_sentinel=False)
    return codes, [str(v) for v in uniques]


def _group_key(rows: Rows, keys: list[str]) -> tuple[np.ndarray, list[str]]:
    """Each row's group label as (code, names), the label ``names[code]``: "all", or its ``keys``
    values joined by "_" (e.g. "provider_initial"). Each key column is factorized on its own (joining
    every row's strings cost more than the statistics)."""
    if not keys:
        return np.zeros(len(rows), dtype=np.int64), ["all"]
    code = np.zeros(len(rows), dtype=np.int64)
    uniques = []
    for k in keys:
        c, u = rows.factorized(k)
        code = code * len(u) + c
        uniques.append(u)
    present, code = np.unique(code, return_inverse=True)
    names = []
    for x in present.tolist():
        parts = []
        for u in reversed(uniques):
            x, i = divmod(x, len(u))
            parts.append(u[i])
        names.append("_".join(reversed(parts)))
    return code.reshape(-1), names


def _group_labels(rows: Rows, reps: np.ndarray, keys: list[str], groups: list[str]) -> tuple[Grouped, np.ndarray]:
    """Rows grouped by (replication, group key) and, per (replication, listed group), its row in the
    groups' statistics. Unlisted groups present in the data stay groups of their own (pandas' sums
    depend on every row grouped: see :mod:`sim.analysis.grouped`) and are dropped afterwards."""
    code, names = _group_key(rows, keys)
    extra = sorted(set(names) - set(groups), key=str)
    every = list(groups) + extra
    pos = {v: i for i, v in enumerate(every)}
    g = Grouped.of(
        rows.values("replication"), reps, np.array([pos[n] for n in names], dtype=np.int64)[code], len(every)
    )
    pick = (np.arange(len(reps))[:, None] * len(every) + np.arange(len(groups))).ravel()
    return g, pick


class _Block(dict):
    """Columns of a run of cells (numpy arrays), concatenated once at the end (cheap vs. DataFrames)."""


def _frame(blocks: list[_Block], categorical: bool = False) -> pd.DataFrame:
    if not blocks:
        return pd.DataFrame(columns=CELL_COLUMNS)
    n = [len(b["value"]) for b in blocks]
    block = np.repeat(np.arange(len(blocks)), n)
    offset = np.cumsum([0] + [len(b["columns"]) for b in blocks[:-1]])
    text = _categories if categorical else string_column
    return pd.DataFrame(
        {
            "table": text([b["table"] for b in blocks], block),
            "row": text([b["row"] for b in blocks], block),
            "column": text(
                [c for b in blocks for c in b["columns"]],
                np.concatenate([b["column_codes"] + o for b, o in zip(blocks, offset, strict=True)]),
            ),
            "replication": np.concatenate([b["replication"] for b in blocks]),
            "value": np.concatenate([b["value"] for b in blocks]),
        }
    )


def _categories(names: list[str], codes: np.ndarray) -> pd.Categorical:
    """The column ``names[codes]`` as a pandas categorical (its distinct names in first-listed order)."""
    first = {v: i for i, v in reversed(list(enumerate(names)))}  # each name's first position
    cats = sorted(first, key=first.__getitem__)
    at = {v: i for i, v in enumerate(cats)}
    return pd.Categorical.from_codes(np.array([at[v] for v in names], dtype=np.int32)[codes], categories=cats)


_STR = pd.Series(["a"]).dtype  # what a column of strings becomes (pandas 3: Arrow-backed "str")


def string_column(names: list[str], codes: np.ndarray) -> Any:
    """The column ``names[codes]`` as pandas would store it from Python strings: with Arrow-backed
    strings built by Arrow's ``take`` from the few distinct names (converting every row's Python
    string to Arrow was a tenth of a chunk's analysis); otherwise an object array."""
    codes = np.asarray(codes, dtype=np.int64)
    if isinstance(_STR, pd.StringDtype) and _STR.storage == "pyarrow":
        import pyarrow as pa

        taken = pa.array(list(names), type=pa.large_string()).take(pa.array(codes))
        return pd.arrays.ArrowStringArray(taken, dtype=_STR)
    return np.asarray(list(names), dtype=object)[codes]


def describe(
    df: Rows,
    table: str,
    reps: np.ndarray,
    keys: list[str],
    groups: list[str],
    binary: tuple[str, ...] = (),
    continuous: tuple[str, ...] = (),
    categorical: dict[str, tuple[str, ...]] | None = None,
    with_n: bool = True,
    order: tuple[str, ...] = (),
) -> list[_Block]:
    """Cell blocks of one table: N row, then per item N (%) or mean (SD), for every replication x group.

    ``groups`` lists every group label (so a group empty in some replication gets n = 0 and a
    blank mean, rather than a missing row).
    """
    categorical = categorical or {}
    g, pick = _group_labels(df, reps, keys, groups)
    rank = {c: i for i, c in enumerate(order)} if order else P.ITEM_ORDER
    cols = sorted(set(binary) | set(continuous) | set(categorical), key=lambda c: (rank.get(c, 10_000), c))
    cols = [c for c in cols if c in df.columns]
    stats: list[tuple[str, dict[str, np.ndarray]]] = [("N", {"n": g.size[pick].astype(float)})] if with_n else []
    stats += _item_stats(df, g, pick, cols, binary, continuous, categorical)
    return [b for row, st in stats for b in _blocks(table, row, reps, groups, st)]


def _item_stats(
    df: Rows,
    g: Grouped,
    pick: np.ndarray,
    cols: list[str],
    binary: tuple[str, ...],
    continuous: tuple[str, ...],
    categorical: dict[str, tuple[str, ...]],
) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Per table row (in ``cols`` order): its statistics, N (%) for binary and categorical items,
    mean (SD) for continuous ones, each of those who answered."""
    bcols = [c for c in cols if c in binary]
    ccols = [c for c in cols if c in continuous]
    out: dict[str, list[tuple[str, dict[str, np.ndarray]]]] = {}
    if bcols:
        B = df.matrix(bcols)
        bsum, bcnt = g.sum(B)[pick], g.count(B)[pick]
        for k, col in enumerate(bcols):
            out[col] = [(col, {"n": bsum[:, k], "of": bcnt[:, k], "pct": _pct(bsum[:, k], bcnt[:, k])})]
    if ccols:
        C = df.matrix(ccols)
        cmean, cstd, ccnt = g.mean(C)[pick], g.std(C)[pick], g.count(C)[pick]
        for k, col in enumerate(ccols):
            out[col] = [(col, {"mean": cmean[:, k], "sd": cstd[:, k], "of": ccnt[:, k]})]
    for col in cols:
        if col in categorical and col not in out:
            levels = categorical[col]
            cnt = g.level_counts(df.level_codes(col, levels), len(levels))[pick]
            tot = cnt.sum(axis=1)
            out[col] = [
                (f"{col}={lv}", {"n": cnt[:, k], "of": tot, "pct": _pct(cnt[:, k], tot)}) for k, lv in enumerate(levels)
            ]
    return [x for col in cols for x in out[col]]


def _pct(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.where(den > 0, 100.0 * num / np.where(den > 0, den, np.nan), np.nan)


def table_cells(pr: P.Prepared) -> pd.DataFrame:
    """All descriptive tables of the paper, long format (see module docstring)."""
    return cells_frame(table_blocks(pr))


def cells_frame(blocks: list[_Block], categorical: bool = False) -> pd.DataFrame:
    """The cells of :func:`table_blocks` as the long table of :func:`table_cells`; ``categorical``: its
    table, row and column as pandas categoricals (a quarter of the frame's bytes to pickle: the runner's hook)."""
    return _frame(blocks, categorical)[CELL_COLUMNS]


def cells_matrix(blocks: list[_Block], reps: np.ndarray) -> tuple[list[tuple], np.ndarray]:
    """The cells of :func:`table_blocks` as (key per column, replications x columns matrix): each block
    holds a value per replication x group, replication by replication, so the matrix's row of a
    replication lists its cells in the long table's order."""
    n = len(reps)
    keys = [(b["table"], b["row"], c) for b in blocks for c in b["columns"]]
    mats = [np.asarray(b["value"], dtype=float).reshape(n, len(b["columns"])) for b in blocks]
    return keys, (np.concatenate(mats, axis=1) if mats else np.zeros((n, 0)))


def table_blocks(pr: P.Prepared) -> list[_Block]:
    """The cells of :func:`table_cells` as blocks of columns (one per table row and statistic)."""
    reps, waves = pr.replications, list(pr.waves)
    roles = ["provider", "consumer"]
    out: list[_Block] = []  # one frame at the end: each DataFrame converts its strings (Arrow) anew
    per = Rows(pr.persons)
    if len(per):
        cat = dict(ins.BASELINE_CATEGORICAL.items())
        cont = tuple(ins.BASELINE_CONTINUOUS)
        out += describe(per, "table1", reps, ["role"], roles, continuous=cont, categorical=cat)
        rw = [f"{r}_{w}" for r in roles for w in waves]
        out += describe(per, "tableS1", reps, ["role", "wave"], rw, continuous=cont, categorical=cat)
        out += _retention(per, reps, waves)
        ev = per.where(per.floats("evaluated") == 1)
        prov = ev.where(ev.objects("role") == "provider")
        cons = ev.where(ev.objects("role") == "consumer")
        out += describe(prov, "table2", reps, [], ["all"], binary=P.PROVIDER_BINARY, continuous=P.PROVIDER_LIKERT)
        out += describe(prov, "tableS2", reps, ["wave"], waves, binary=P.PROVIDER_BINARY, continuous=P.PROVIDER_LIKERT)
        st = tuple(c for c in P.STRESS if c in prov.columns)
        out += describe(prov, "stress_reasons", reps, [], ["all"], binary=st)
        out += describe(prov, "stress_reasons", reps, ["wave"], waves, binary=st, with_n=False)
        out += describe(ev, "table3", reps, ["role"], roles, binary=P.BENEFITS)
        out += describe(ev, "tableS3", reps, ["role", "wave"], rw, binary=P.BENEFITS)
        t4 = tuple(it.column for it in ins.CONSUMER_SATISFACTION)  # Table 4's own row order
        out += describe(
            cons, "table4", reps, [], ["all"], binary=P.CONSUMER_BINARY, continuous=P.CONSUMER_LIKERT, order=t4
        )
        out += describe(
            cons, "tableS4", reps, ["wave"], waves, binary=P.CONSUMER_BINARY, continuous=P.CONSUMER_LIKERT, order=t4
        )
    if pr.caregivers is not None and len(pr.caregivers):
        out += _caregivers(Rows(pr.caregivers), reps)
    if pr.sessions is not None and len(pr.sessions):
        out += _sessions(Rows(pr.sessions), reps, waves)
    return out


def _blocks(table: str, row: str, reps: np.ndarray, groups: list[str], stats: dict[str, np.ndarray]) -> list[_Block]:
    """Cell blocks of one row: per stat name, a value per (replication, group) in that order."""
    codes = np.tile(np.arange(len(groups)), len(reps))
    rep = np.repeat(np.asarray(reps, dtype=np.int64), len(groups))
    return [
        _Block(
            table=table,
            row=row,
            columns=[f"{x}_{name}" for x in groups],
            column_codes=codes,
            replication=rep,
            value=np.asarray(v, dtype=float),
        )
        for name, v in stats.items()
    ]


def _retention(per: Rows, reps: np.ndarray, waves: list[str]) -> list[_Block]:
    """Response rates (Results): recruited, retained, evaluated and % evaluated, role x wave."""
    frames = []
    role = per.objects("role")
    for r in ("provider", "consumer"):
        x = per.where(role == r)
        for keys, groups in ((["wave"], waves), ([], ["all"])):
            g, pick = _group_labels(x, reps, keys, groups)
            stats = {"recruited": g.size[pick].astype(float)}
            stats["evaluated"] = g.sum(x.floats("evaluated"))[pick, 0]
            if "retained" in x.columns:
                stats["retained"] = g.sum(x.floats("retained"))[pick, 0]
            rec = stats["recruited"]
            with np.errstate(all="ignore"):
                stats["pct"] = np.where(rec > 0, 100.0 * stats["evaluated"] / np.where(rec > 0, rec, np.nan), np.nan)
            order = [k for k in ("recruited", "retained", "evaluated", "pct") if k in stats]
            frames += _blocks("retention", r, reps, groups, {k: stats[k] for k in order})
    return frames


def _caregivers(cg: Rows, reps: np.ndarray) -> list[_Block]:
    """Participating caregivers (Results, "Caregivers"): all, and by the member's role."""
    part = cg.where(cg.floats("participated") == 1)
    binary = tuple(c for c in P.CAREGIVER_BINARY if c in part.columns)
    a = describe(
        part,
        "caregivers",
        reps,
        [],
        ["all"],
        binary=binary,
        continuous=("age",),
        categorical={"gender": ("female", "male")},
    )
    b = describe(
        part,
        "caregivers",
        reps,
        ["member_role"],
        ["provider", "consumer"],
        binary=binary,
        continuous=("age",),
        categorical={"gender": ("female", "male")},
    )
    return a + b


def _sessions(ss: Rows, reps: np.ndarray, waves: list[str]) -> list[_Block]:
    """Sessions held before follow-up (Methods: 214 sessions, 98.6% group, content shares)."""
    held = ss.where((ss.objects("status") == "held") & (ss.floats("before_follow_up") == 1))
    group_format = (held.objects("format") == "group").astype(float)
    content = held.level_codes("content", tuple(ins.CONTENT_CATEGORIES))
    frames = []
    for keys, groups in (([], ["all"]), (["wave"], waves)):
        g, pick = _group_labels(held, reps, keys, groups)
        n = g.size[pick].astype(float)
        cont = g.level_counts(content, len(ins.CONTENT_CATEGORIES))[pick]
        with np.errstate(all="ignore"):
            nn = np.where(n > 0, n, np.nan)
            frames += _blocks("sessions", "held", reps, groups, {"value": n})
            share = np.where(n > 0, g.sum(group_format)[pick, 0] / nn, np.nan)
            frames += _blocks("sessions", "group_share", reps, groups, {"value": share})
            for k, c in enumerate(ins.CONTENT_CATEGORIES):
                share = np.where(n > 0, cont[:, k] / nn, np.nan)
                frames += _blocks("sessions", f"content={c}", reps, groups, {"value": share})
    return frames


# ----------------------------------------------------------------------------------------------
# The paper's own figures, in the same cell coordinates
# ----------------------------------------------------------------------------------------------
def paper_cells() -> pd.DataFrame:
    """The figures the paper printed, as (table, row, column, paper), from ``sim.instruments``."""
    rows: list[tuple[str, str, str, float]] = []

    def add(t, r, c, v):
        if v is not None:
            rows.append((t, r, c, float(v)))

    for role, d in ins.TABLE1.items():
        add("table1", "N", f"{role}_n", d["n"])
        for v in ins.BASELINE_CONTINUOUS:
            add("table1", v, f"{role}_mean", d[v][0])
            add("table1", v, f"{role}_sd", d[v][1])
        for v, levels in ins.BASELINE_CATEGORICAL.items():
            for lv, k in zip(levels, d[v], strict=False):
                add("table1", f"{v}={lv}", f"{role}_n", k)
                add("table1", f"{v}={lv}", f"{role}_pct", 100.0 * k / d["n"])
    for (role, wave), (k, n) in ins.PAPER_RETENTION.items():
        add("retention", role, f"{wave}_recruited", n)
        add("retention", role, f"{wave}_evaluated", k)
        add("retention", role, f"{wave}_pct", 100.0 * k / n)
    for table, group, items in (
        ("table2", "all", ins.PROVIDER_SATISFACTION),
        ("stress_reasons", "all", ins.PROVIDER_STRESS_REASONS),
        ("table4", "all", ins.CONSUMER_SATISFACTION),
        ("table3", "provider", ins.PROVIDER_BENEFITS),
        ("table3", "consumer", ins.CONSUMER_BENEFITS),
    ):
        for it in items:
            if it.kind == "binary" and it.paper_count is not None:
                add(table, it.column, f"{group}_n", it.paper_count)
                add(table, it.column, f"{group}_of", it.paper_n)
                add(table, it.column, f"{group}_pct", 100.0 * it.paper_count / it.paper_n)
            elif it.paper_mean is not None:
                add(table, it.column, f"{group}_mean", it.paper_mean)
                add(table, it.column, f"{group}_sd", it.paper_sd)
                add(table, it.column, f"{group}_of", it.paper_n)
    add("table2", "N", "all_n", ins.paper_evaluated("provider"))
    add("table4", "N", "all_n", ins.paper_evaluated("consumer"))
    add("table3", "N", "provider_n", ins.paper_evaluated("provider"))
    add("table3", "N", "consumer_n", ins.paper_evaluated("consumer"))
    # Results: confidence 7.80 in the later communities; consumer mood by wave.
    add("tableS2", "confidence", "later_mean", 7.80)
    for wave, (k, n) in ins.CONSUMER_MOOD_BY_WAVE.items():
        add("tableS3", "ben_mood", f"consumer_{wave}_n", k)
        add("tableS3", "ben_mood", f"consumer_{wave}_of", n)
        add("tableS3", "ben_mood", f"consumer_{wave}_pct", 100.0 * k / n)
    cg = ins.CAREGIVER_DEMOGRAPHICS
    add("caregivers", "N", "all_n", cg["n"])
    add("caregivers", "N", "provider_n", cg["of_providers"])
    add("caregivers", "N", "consumer_n", cg["of_consumers"])
    add("caregivers", "gender=female", "all_n", cg["female"])
    add("caregivers", "gender=female", "all_pct", 100.0 * cg["female"] / cg["n"])
    add("caregivers", "age", "all_mean", cg["mean_age"])
    for it in ins.CAREGIVER_ATTITUDE + ins.CAREGIVER_MEMBER_BENEFITS + ins.CAREGIVER_SELF_BENEFITS:
        if it.paper_count is not None:
            grp = {"member_qualified": "provider", "expect_member_provider": "consumer"}.get(it.column, "all")
            add("caregivers", it.column, f"{grp}_n", it.paper_count)
            add("caregivers", it.column, f"{grp}_of", it.paper_n)
            add("caregivers", it.column, f"{grp}_pct", 100.0 * it.paper_count / it.paper_n)
    add("sessions", "held", "all_value", ins.PAPER_SESSIONS_TOTAL)
    add("sessions", "group_share", "all_value", ins.PAPER_GROUP_SHARE)
    for c, s in ins.PAPER_TOP_CONTENT_SHARES.items():
        add("sessions", f"content={c}", "all_value", s)
    return pd.DataFrame(rows, columns=["table", "row", "column", "paper"])
