"""sim.datasets.write_table writes the bytes pandas' to_csv writes with the project's float format."""

import io

import numpy as np
import pandas as pd

from sim.datasets import FLOAT_FORMAT, write_table


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "i": [1, -2, 3, 0],
            "answer": pd.array([1, None, 3, None], dtype="Int64"),
            "text": ["a,b", None, 'say "hi"', ""],
            "x": [0.1, np.nan, 1 / 3, -np.inf],
            "day": [547.875, 2.0, 1e-12, 123456789012.5],
            "mixed": [np.float64(0.25), "y", None, 3],
            "flag": [True, False, True, False],
        }
    )


def test_same_bytes_as_pandas(tmp_path):
    df = _frame()
    df.to_csv(tmp_path / "pandas.csv", index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    write_table(df, tmp_path / "ours.csv")
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
    # appended without a header, as chunk files are assembled
    df.to_csv(
        tmp_path / "pandas.csv", index=False, float_format=FLOAT_FORMAT, lineterminator="\n", header=False, mode="a"
    )
    write_table(df, tmp_path / "ours.csv", header=False, mode="a")
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


def test_to_an_open_buffer():
    df = _frame()
    buf = io.StringIO()
    write_table(df, buf)
    assert buf.getvalue() == df.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n")


def test_empty_tables(tmp_path):
    for df in (pd.DataFrame(), _frame().iloc[:0]):
        df.to_csv(tmp_path / "pandas.csv", index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
        write_table(df, tmp_path / "ours.csv")
        assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


def test_quoting_and_a_lone_column():
    """Fields with a comma, quote or line break are quoted as the csv module quotes them (rows are joined as
    text); a one-column table keeps the csv module's rule for a lone empty field."""
    df = pd.DataFrame({"a, b": ["x\ry", "line\nbreak", "", "plain"], "n": [1, 2, 3, 4]})
    for frame in (df, df[["a, b"]], df[["n"]]):
        for header in (True, False):
            buf = io.StringIO()
            write_table(frame, buf, header=header)
            assert buf.getvalue() == frame.to_csv(
                index=False, header=header, float_format=FLOAT_FORMAT, lineterminator="\n"
            )
