import pytest

from tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer randomly initialised Llama with the default model's tokenizer (built once per session)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    from cleanagent_utils.models import embedded_model_dir

    return AutoTokenizer.from_pretrained(embedded_model_dir())
