"""Loading a saved HRM adapter as a PEFT user would: what the files say, a fresh process, transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from hankelid_torch import HRMConfig  # noqa: E402
from hankelid_torch.hrm.config import HOW_TO_LOAD  # noqa: E402

from .conftest import build_tiny_mistral  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def saved_adapter(tmp_path: Path) -> tuple[Path, Path, torch.Tensor, torch.Tensor]:
    """A tiny Mistral saved as a checkpoint, an HRM adapter on it, token ids and the adapted logits."""
    base_dir, adapter_dir = tmp_path / "base", tmp_path / "adapter"
    build_tiny_mistral().save_pretrained(base_dir)
    model = peft.get_peft_model(
        transformers.MistralForCausalLM.from_pretrained(base_dir).eval(),
        HRMConfig(d_state=3, seed=0, gate_init=0.6, init="random", parametrization="modal"),
    )
    ids = torch.randint(3, 64, (2, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    model.save_pretrained(adapter_dir)
    return base_dir, adapter_dir, ids, logits


def test_saved_files_say_how_to_load(tmp_path):
    _, adapter_dir, _, _ = saved_adapter(tmp_path)
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    assert config["peft_type"] == "HRM"
    assert config["how_to_load"] == HOW_TO_LOAD and "import hankelid_torch" in HOW_TO_LOAD
    card = (adapter_dir / "README.md").read_text()
    assert "library_name: peft" in card  # PEFT's own card is kept
    assert card.count("## Loading this HRM adapter") == 1 and "import hankelid_torch" in card
    # saving again does not repeat the section; the config loads back to an equal HRMConfig
    peft.PeftConfig.from_pretrained(adapter_dir).save_pretrained(adapter_dir)
    assert (adapter_dir / "README.md").read_text().count("## Loading this HRM adapter") == 1
    assert peft.PeftConfig.from_pretrained(adapter_dir).to_dict() == HRMConfig(
        **{k: v for k, v in config.items() if k not in ("peft_type", "peft_version")}
    ).to_dict() | {"peft_version": config["peft_version"]}


def test_without_the_registration_peft_fails_as_documented(tmp_path, monkeypatch):
    """In-process stand-in for a process that never imported hankelid_torch (the slow test runs one)."""
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING

    base_dir, adapter_dir, _, _ = saved_adapter(tmp_path)
    monkeypatch.delitem(PEFT_TYPE_TO_CONFIG_MAPPING, "HRM")
    with pytest.raises(KeyError, match="'HRM'"):
        peft.PeftModel.from_pretrained(transformers.MistralForCausalLM.from_pretrained(base_dir), adapter_dir)


@pytest.mark.slow  # a fresh interpreter importing torch, transformers and peft: ~25 s on the shared machine
def test_fresh_process_without_then_with_the_import(tmp_path):
    base_dir, adapter_dir, ids, logits = saved_adapter(tmp_path)
    torch.save({"ids": ids, "logits": logits}, tmp_path / "ref.pt")
    script = textwrap.dedent(
        f"""
        import json, sys, torch, transformers
        from peft import AutoPeftModelForCausalLM, PeftModel
        assert "hankelid_torch" not in sys.modules
        ref = torch.load({str(tmp_path / "ref.pt")!r})
        report = {{}}
        try:
            PeftModel.from_pretrained(
                transformers.MistralForCausalLM.from_pretrained({str(base_dir)!r}), {str(adapter_dir)!r})
        except Exception as exc:
            report["without"] = [type(exc).__name__, str(exc)]
        import hankelid_torch  # noqa: F401
        for name, load in (
            ("peft", lambda: PeftModel.from_pretrained(
                transformers.MistralForCausalLM.from_pretrained({str(base_dir)!r}), {str(adapter_dir)!r})),
            ("auto", lambda: AutoPeftModelForCausalLM.from_pretrained({str(adapter_dir)!r})),
        ):
            with torch.no_grad():
                report[name] = bool(torch.equal(load().eval()(input_ids=ref["ids"]).logits, ref["logits"]))
        print(json.dumps(report))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # PEFT's lookup PEFT_TYPE_TO_CONFIG_MAPPING[peft_type] fails before any hook could run (documented)
    assert report["without"] == ["KeyError", "'HRM'"]
    assert report["peft"] is True and report["auto"] is True
