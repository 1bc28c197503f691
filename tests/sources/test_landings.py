"""File landings (custody.sources.landings): an S3 prefix streamed like a local folder."""

from __future__ import annotations

from custody.config import SourceConfig, TableConfig


def test_s3_landing_streams_files(s3_client, staging):
    from custody.sources.landings import S3Landing
    from extract.conftest import run_source

    s3_client.create_bucket(Bucket="landing")
    s3_client.put_object(Bucket="landing", Key="drop/2026/a.csv", Body="id,name\n1,张三\n".encode("gbk"))
    s3_client.put_object(Bucket="landing", Key="drop/2026/skip.txt", Body=b"x")
    src = SourceConfig(name="s3drop", kind="files", landing="s3://landing/drop", lawful_basis="contract",
                       retention_class="r", tables=[TableConfig(name="t", files="2026/*.csv")])
    m = run_source(src, staging, landing=S3Landing(s3_client, "landing", "drop"))
    tm = m.tables[0]
    assert (tm.source_rows, tm.extracted_rows) == (1, 1)
    assert tm.extraction.files[0].name == "2026/a.csv" and tm.extraction.files[0].encoding == "gbk"
