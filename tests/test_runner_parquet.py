"""``run --format parquet``: the same tables as the CSVs, written chunk by chunk (one row group per chunk),
the same bytes whatever the workers, chunk sizes or interruptions, and read by ``analyze``."""

from __future__ import annotations

import errno

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import fakemodel as fm

from sim.analysis import read_directory
from sim.datasets import TABLES
from sim.runner import ResumeError, WriteError, run_to_directory, tasks, work_dir_for


@pytest.fixture(scope="module")
def parquet_run(tmp_path_factory):
    """4 replications of the small scenario (real model), in-process, as Parquet and as CSV."""
    d = tmp_path_factory.mktemp("parquet")
    sc = fm.small_scenario()
    run_to_directory(sc, d / "pq", replications=4, workers=1, table_format="parquet")
    run_to_directory(sc, d / "csv", replications=4, workers=1)
    return d


def test_parquet_holds_the_same_tables_as_the_csv(parquet_run):
    for t in TABLES:
        p = pd.read_parquet(parquet_run / "pq" / f"{t}.parquet", dtype_backend="numpy_nullable")
        c = pd.read_csv(parquet_run / "csv" / f"{t}.csv")
        assert list(p.columns) == list(c.columns) and len(p) == len(c) > 0, t
        for col in p.columns:
            pc, cc = p[col].replace("", pd.NA), c[col]  # a CSV cannot tell an empty text from a blank
            assert (pc.isna().to_numpy() == cc.isna().to_numpy()).all(), (t, col)
            if pd.api.types.is_numeric_dtype(cc) and not pd.api.types.is_bool_dtype(cc):
                # the CSV keeps 10 significant digits (sim/datasets.py FLOAT_FORMAT); Parquet keeps all
                np.testing.assert_allclose(pc.astype(float).to_numpy(), cc.astype(float).to_numpy(), rtol=1e-9)
            else:
                assert pc.dropna().astype(str).tolist() == cc.dropna().astype(str).tolist(), (t, col)
    # blank answers stay integers with nulls (not floats)
    schema = pq.read_schema(parquet_run / "pq" / "consumers.parquet")
    assert str(schema.field("sat_overall").type) == "int64"


def test_analysis_reads_parquet_as_it_reads_csv(parquet_run):
    a, b = read_directory(parquet_run / "pq"), read_directory(parquet_run / "csv")
    assert a.keys() == b.keys() == {"providers", "consumers", "caregivers", "sessions"}
    for k in a:
        assert list(a[k].columns) == list(b[k].columns)
        for col in a[k].columns:  # checked columns are typed alike; other columns stay text ('14.0' or '14')
            x, y = a[k][col], b[k][col]
            xn, yn = pd.to_numeric(x, errors="coerce"), pd.to_numeric(y, errors="coerce")
            if xn.notna().sum() == x.notna().sum() and x.notna().any():
                np.testing.assert_allclose(xn.astype(float), yn.astype(float), rtol=1e-9, err_msg=f"{k}.{col}")
            else:
                assert x.tolist() == y.tolist(), (k, col)


def test_parquet_same_bytes_any_workers_chunks_and_resume(parquet_run, tmp_path, monkeypatch):
    ref = parquet_run / "pq"
    sc = fm.small_scenario()
    run_to_directory(sc, tmp_path / "b", replications=4, workers=2, chunk_size=1, table_format="parquet")
    assert pq.ParquetFile(tmp_path / "b" / "sessions.parquet").num_row_groups == 4  # one per chunk, streamed
    # an interrupted run (no space after 2 chunks) resumed: the same bytes as the 4-chunk run above
    real, calls = tasks.write_chunk_meta, {"n": 0}

    def write_chunk_meta(folder, *args):
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(folder))
        real(folder, *args)

    monkeypatch.setattr(tasks, "write_chunk_meta", write_chunk_meta)
    kw = {"replications": 4, "workers": 1, "chunk_size": 1, "table_format": "parquet"}
    with pytest.raises(WriteError, match="2 finished chunks"):
        run_to_directory(sc, tmp_path / "c", **kw)
    monkeypatch.setattr(tasks, "write_chunk_meta", real)
    res = run_to_directory(sc, tmp_path / "c", resume=True, **kw)
    assert (res.chunks_reused, res.chunks_computed) == (2, 2)
    assert fm.file_hashes(tmp_path / "c") == fm.file_hashes(tmp_path / "b")
    # and the default chunking gives the same rows (the row groups differ, so the bytes do)
    assert pd.read_parquet(tmp_path / "c" / "sessions.parquet").equals(pd.read_parquet(ref / "sessions.parquet"))
    with pytest.raises(AssertionError):
        assert fm.file_hashes(tmp_path / "c") == fm.file_hashes(ref)


def test_parquet_default_chunking_does_not_follow_the_workers(tmp_path):
    """A Parquet file holds one row group per chunk: its default chunking is per run (sixteen chunks),
    not per worker as for CSV (four per worker), so the bytes are the same with any --workers."""
    sc, n = fm.small_scenario(), 200
    kw = {"replications": n, "table_format": "parquet", "model": fm.FAKE_MODEL}
    a = run_to_directory(sc, tmp_path / "a", workers=1, **kw)
    b = run_to_directory(sc, tmp_path / "b", workers=2, **kw)
    assert a.chunk_size == b.chunk_size == 25  # 200/16 < MIN_CHUNK
    assert fm.file_hashes(tmp_path / "a") == fm.file_hashes(tmp_path / "b")
    csv = run_to_directory(sc, tmp_path / "c", replications=n, workers=1, model=fm.FAKE_MODEL)
    assert csv.chunk_size == 50  # 200/4: four chunks for one worker (with two: eight of 25)


def test_resume_refused_when_the_table_format_differs(tmp_path, monkeypatch):
    monkeypatch.setattr(fm, "FAIL_AT", 3)
    kw = {"replications": 6, "chunk_size": 1, "workers": 1, "model": fm.FAKE_MODEL}
    with pytest.raises(RuntimeError, match="injected"):
        run_to_directory(fm.small_scenario(), tmp_path / "out", **kw)
    monkeypatch.setattr(fm, "FAIL_AT", None)
    with pytest.raises(ResumeError, match="table format csv"):
        run_to_directory(fm.small_scenario(), tmp_path / "out", resume=True, table_format="parquet", **kw)
    assert (work_dir_for(tmp_path / "out") / "chunks").exists()  # left intact


def test_cli_run_parquet_then_analyze(tmp_path, small_yaml, run_cli):
    f = small_yaml(replications=3)
    args = ("--format", "parquet", "--workers", "1", "--no-analysis", "-q")
    r = run_cli("run", f, *args, "--out", tmp_path / "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert [n for n in names if n.endswith((".csv", ".parquet"))] == sorted(f"{t}.parquet" for t in TABLES)
    r = run_cli("analyze", tmp_path / "run", "--out", tmp_path / "an", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "an" / "tests.csv").stat().st_size > 0
    r = run_cli("run", f, "--format", "xlsx", "--out", tmp_path / "bad", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == "error: --format: expected csv or parquet, got 'xlsx'"


def test_a_corrupt_parquet_table_is_one_line_naming_the_file_once(tmp_path):
    """analyze on a folder whose providers table is a .parquet file that is not Parquet: one line, the file
    named once (pyarrow's own message names it again)."""
    from sim.analysis import DatasetError, read_directory

    (tmp_path / "providers.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DatasetError) as e:
        read_directory(tmp_path)
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / 'providers.parquet'}: cannot read Parquet: ") and "\n" not in msg
    assert msg.count(str(tmp_path)) == 1
