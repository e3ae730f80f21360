"""`make demo`'s script: both models trained, a side-by-side picture and a summary of modes found."""

from gankit import demo


def test_demo_writes_summary_picture_and_two_run_directories(tmp_path, capsys):
    assert demo.main(["--out", str(tmp_path), "--steps-scale", "0.002"]) == 0
    summary = (tmp_path / "summary.txt").read_text()
    assert "ns" in summary and "wgan-gp" in summary and "/8" in summary
    assert (tmp_path / "side_by_side.png").read_bytes()[:4] == b"\x89PNG"
    for name in ("ns", "wgan-gp"):
        assert (tmp_path / name / "config.json").is_file()
        assert list((tmp_path / name / "checkpoints").glob("*.pt"))
    assert summary in capsys.readouterr().out
    # Running it again replaces the demo's own output instead of refusing.
    assert demo.main(["--out", str(tmp_path), "--steps-scale", "0.002"]) == 0
