"""The token-exact chat format on today's model families, with their published chat templates
(tests/data/chat_templates) on a tokenizer that has each family's special tokens around the
embedded model's vocabulary: no hub access and no weights needed, as the scripts check the format
before they load weights."""

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from cleanagent_utils.chat import ChatFormat, chat_ids, chat_text
from cleanagent_utils.models import embedded_model_dir

TEMPLATES = Path(__file__).parent / "data" / "chat_templates"
CHATML = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
LLAMA3 = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
          "<|eom_id|>", "<|python_tag|>"]
GEMMA = ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"]
MISTRAL = ["<s>", "</s>", "[INST]", "[/INST]"]
# family: (template, special tokens, bos, eos, end ids of the generation config, the token that ends an assistant turn,
#          whether appending a turn leaves earlier turns as they were rendered)
FAMILIES = {
    "smollm2": ("smollm2.jinja", CHATML, None, "<|im_end|>", ["<|im_end|>"], "<|im_end|>", True),
    "qwen2.5": ("qwen2_5.jinja", CHATML, None, "<|im_end|>", ["<|im_end|>", "<|endoftext|>"], "<|im_end|>", True),
    "qwen3": ("qwen3.jinja", CHATML, None, "<|im_end|>", ["<|im_end|>", "<|endoftext|>"], "<|im_end|>", False),
    "llama3.1": ("llama3_1.jinja", LLAMA3, "<|begin_of_text|>", "<|eot_id|>",
                 ["<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"], "<|eot_id|>", True),
    "gemma2": ("gemma.jinja", GEMMA, "<bos>", "<eos>", ["<eos>", "<end_of_turn>"], "<end_of_turn>", True),
    "gemma3": ("gemma3.jinja", GEMMA, "<bos>", "<eos>", ["<eos>", "<end_of_turn>"], "<end_of_turn>", True),
    "mistral": ("mistral_v3.jinja", MISTRAL, "<s>", "</s>", ["</s>"], "</s>", True),
}


def family_tokenizer(name: str):
    template, specials, bos, eos, gen_eos, _, _ = FAMILIES[name]
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir())
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    if name == "qwen3":
        tokenizer.add_tokens(["<think>", "</think>"])  # added, not special, as Qwen3 ships them
    tokenizer.eos_token = eos
    if bos is not None:
        tokenizer.bos_token = bos
    tokenizer.chat_template = (TEMPLATES / template).read_text()
    return tokenizer, tokenizer.convert_tokens_to_ids(gen_eos)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_chat_format_is_token_exact(name):
    """A prompt, a reply as the model samples it (ended by its end-of-turn token), the template's glue and
    an observation's delta give the ids the template renders for the whole conversation."""
    tokenizer, gen_eos = family_tokenizer(name)
    *_, end_of_turn, prefix_preserving = FAMILIES[name]
    chat = ChatFormat(tokenizer, gen_eos)
    assert chat.end_of_turn == tokenizer.convert_tokens_to_ids(end_of_turn)
    assert set(gen_eos) | {chat.end_of_turn} <= set(chat.stop_ids)
    assert chat.fold_system == (name in ("gemma2", "mistral"))

    instructions, demo = "Play the game.", [("Example page.", "Thought: try.\nAction: look")]
    prompt = chat.prompt(instructions, "First page.", demo)
    messages = chat._messages(instructions, [{"role": "user", "content": "Example page."},
                                             {"role": "assistant", "content": demo[0][1]},
                                             {"role": "user", "content": "First page."}])
    assert prompt == chat_ids(tokenizer, messages, True)
    reply = "Thought: go on.\nAction: open door"
    prompt_text = chat_text(tokenizer, messages, True)
    with_reply = chat_text(tokenizer, messages + [{"role": "assistant", "content": reply}])
    assert with_reply.startswith(prompt_text)
    eot_text = tokenizer.convert_ids_to_tokens(chat.end_of_turn)
    reply_text = with_reply[len(prompt_text) : with_reply.index(eot_text, len(prompt_text))]  # what the model writes
    sampled = tokenizer.encode(reply_text, add_special_tokens=False) + [chat.end_of_turn]
    ours = prompt + sampled + chat.after_turn + chat.observation("Second page.")
    conversation = messages + [{"role": "assistant", "content": reply}, {"role": "user", "content": "Second page."}]
    full = chat_ids(tokenizer, conversation, True)
    tail = chat.after_turn + chat.observation("Second page.")
    assert full[-len(tail) :] == tail  # the observation's turn and the next header, token for token as the template's
    if prefix_preserving:  # the whole sequence reads as the template renders the conversation
        assert tokenizer.decode(ours) == chat_text(tokenizer, conversation, True)
    else:  # Qwen3 re-renders the latest assistant turn (its thinking block) once another turn follows
        assert tokenizer.decode(ours).startswith(prompt_text)


def test_a_template_without_a_recognisable_turn_end_is_refused():
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir())
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(SystemExit, match="closes assistant turns"):
        ChatFormat(tokenizer)
