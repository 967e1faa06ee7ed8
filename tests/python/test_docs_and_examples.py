"""The README's PyTorch example runs as written, and examples/mta_training_step.py runs (GPU) or says
plainly that it cannot (no GPU)."""
import os
import re
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")


def readme_python_blocks(repo):
    text = open(os.path.join(repo, "README.md")).read()
    section = text.split("## Using it from PyTorch", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_readme_has_one_pytorch_example(repo):
    assert len(readme_python_blocks(repo)) == 1


@pytest.mark.gpu
@pytest.mark.usefixtures("na_library")
def test_the_readme_example_runs_as_written(repo):
    namespace = {}
    exec(compile(readme_python_blocks(repo)[0], "README.md", "exec"), namespace)
    torch.cuda.synchronize()
    assert namespace["scores"].grad is not None and namespace["mta"].weight.grad is not None
    assert namespace["h"].shape == (2, 4096, 512) and namespace["y"].shape == (2, 8, 4096, 64)


def run_example(repo, *args):
    env = dict(os.environ, PYTHONPATH=os.path.join(repo, "python"))
    return subprocess.run([sys.executable, os.path.join(repo, "examples", "mta_training_step.py")] + list(args),
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_the_training_example_says_it_needs_a_gpu(repo):
    result = run_example(repo)
    assert result.returncode == 2
    assert "no CUDA device is available" in result.stderr


@pytest.mark.gpu
@pytest.mark.parametrize("args", [["--length", "256", "--reps", "3"], ["--paper", "--length", "256", "--sparse", "--reps", "3"]])
def test_the_training_example_runs(repo, args):
    result = run_example(repo, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "attnjit" in result.stdout and "fwd+bwd ms" in result.stdout
    print(result.stdout)
