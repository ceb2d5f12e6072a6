"""bench/gpu_check.py on a tiny model on CPU: the runs, the parsing and the summary (the GPU numbers come from a
GPU)."""

import json

import torch

from bench import gpu_check


def test_gpu_check_runs_and_summarises(tiny_model_dir, tmp_path):
    out = tmp_path / "gpu_check.json"
    result = gpu_check.main(["--model", str(tiny_model_dir), "--env", "vowels", "--iterations", "2", "--num-tasks", "1",
                             "--group-size", "2", "--max-new-tokens", "3", "--horizon", "1", "--max-episode-tokens",
                             "256", "--micro-batch-tokens", "1024", "--dtype", "float32", "--out", str(out)])
    assert json.loads(out.read_text())["backends"].keys() == {"hf", "vllm"}
    hf = result["backends"]["hf"]
    assert hf["returncode"] == 0, hf.get("error")
    assert len(hf["iterations"]) == 2 and hf["summary"]["tokens_per_s"] > 0
    assert hf["summary"]["step_s"] == round(hf["iterations"][1]["rollout_s"] + hf["iterations"][1]["update_s"], 2)
    if not torch.cuda.is_available():
        assert result["backends"]["vllm"] == {"skipped": "no CUDA GPU"}
    assert "| hf |" in result["markdown"]
