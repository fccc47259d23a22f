"""`kinevid serve` without a browser: the page builds, errors become one-line `gr.Error`s, and the command
says what to install when Gradio is missing (the other commands never need it)."""

from __future__ import annotations

import sys

import pytest

from kinevid.cli.commands import generate as generate_command
from kinevid.cli.main import main
from kinevid.cli.web.models import ModelCache


def test_serve_without_gradio_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` raises ImportError
    monkeypatch.delitem(sys.modules, "kinevid.cli.web.app", raising=False)
    assert main(["serve", "--port", "7999"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "kinevid serve: error: kinevid serve needs Gradio (gradio is missing): pip install 'kinevid[demo]'."
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0 and "serve" in capsys.readouterr().out


def test_bad_port_and_model_dir(tmp_path, capsys):
    assert main(["serve", "--port", "0"]) == 1
    assert "--port must be in 1..65535" in capsys.readouterr().err
    assert main(["serve", "--model-dir", str(tmp_path / "missing")]) == 1
    assert "no such directory" in capsys.readouterr().err


def test_page_errors_are_one_line_gradio_errors(tmp_path, monkeypatch):
    gr = pytest.importorskip("gradio")
    from kinevid.cli.web import handlers
    from kinevid.cli.web.app import build_app, page_errors

    run = page_errors(handlers.text_to_video)
    monkeypatch.setattr(generate_command, "default_model_dir", lambda method: tmp_path / "uninstalled" / method)
    with pytest.raises(gr.Error) as info:  # an install without the EchoMotion model: the page says so
        run(ModelCache(), tmp_path, "echomotion", "a man walks forward")
    assert "no trained echomotion video model ships" in info.value.message and "\n" not in info.value.message
    with pytest.raises(gr.Error, match="internal error \\(ZeroDivisionError\\)"):
        page_errors(lambda: 1 / 0)()
    app = build_app(ModelCache(), tmp_path)
    ids = {block.elem_id for block in app.blocks.values() if getattr(block, "elem_id", None)}
    for prefix in ("t2v", "m2v", "v2m"):
        assert {
            f"{prefix}-{name}" for name in ("run", "video", "skeleton", "mannequin", "files", "summary", "plot")
        } <= ids
    assert {"t2m-run", "t2m-skeleton", "t2m-mannequin", "t2m-files", "t2m-summary", "t2m-plot"} <= ids
