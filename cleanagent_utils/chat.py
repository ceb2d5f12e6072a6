"""The chat template as token deltas: a conversation is extended token by token, never decoded and
re-encoded, so the trained ids are exactly the sampled ones."""

from __future__ import annotations


def chat_ids(tokenizer, messages: list[dict], add_generation_prompt: bool = False, tools: list[dict] | None = None) -> list[int]:
    return list(tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=add_generation_prompt, tokenize=True, return_dict=True)["input_ids"])


class ChatFormat:
    """Token deltas of the chat template, so sampled tokens are never decoded and re-encoded.

    The template is rendered once for a fixed base conversation; an observation is then appended
    as the tokens the template adds after that base (SkyRL's trick). `end_of_turn` is the token
    that closes an assistant turn, `after_turn` what the template writes after it (e.g. "\\n");
    `stop_ids` every token that ends a reply: `end_of_turn` and the end ids of the model's generation
    config (`generation_eos`: Qwen's `<|endoftext|>`, Llama 3's `<|eom_id|>`).
    Tool schemas go through the template when it renders tools (`native_tools`, e.g. Qwen2.5), else
    as the env's text description at the end of the system message; tool results likewise become
    tool messages or user turns.
    """

    BASE = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}, {"role": "assistant", "content": "A"}]

    def __init__(self, tokenizer, generation_eos: int | list[int] | None = None):
        self.tokenizer = tokenizer
        self.end_of_turn = tokenizer.eos_token_id
        extra = [generation_eos] if isinstance(generation_eos, int) else list(generation_eos or [])
        self.stop_ids = tuple(dict.fromkeys([self.end_of_turn, *extra]))
        self.base_ids = chat_ids(tokenizer, self.BASE)
        if self.end_of_turn not in self.base_ids:
            raise SystemExit(f"error: the chat template does not close assistant turns with eos {tokenizer.eos_token!r}")
        last = len(self.base_ids) - 1 - self.base_ids[::-1].index(self.end_of_turn)
        self.after_turn = self.base_ids[last + 1 :]
        self.native_tools = "tools" in (tokenizer.chat_template or "")

    def prompt(self, instructions: str, observation: str, demonstration=(), tools=None, tools_text: str = "") -> list[int]:
        """The first prompt: system instructions (and tools), optional (observation, reply) example turns, the task."""
        if tools_text and not self.native_tools:
            instructions = f"{instructions}\n\n{tools_text}"
        messages = [{"role": "system", "content": instructions}]
        for example_observation, example_reply in demonstration:
            messages += [{"role": "user", "content": example_observation}, {"role": "assistant", "content": example_reply}]
        messages.append({"role": "user", "content": observation})
        return chat_ids(self.tokenizer, messages, True, tools=tools if tools and self.native_tools else None)

    def observation(self, text: str, role: str = "user", tool_messages=None) -> list[int]:
        messages = tool_messages if role == "tool" and tool_messages and self.native_tools else [{"role": "user", "content": text}]
        full = chat_ids(self.tokenizer, self.BASE + messages, True)
        if full[: len(self.base_ids)] != self.base_ids:
            raise SystemExit("error: this chat template rewrites earlier turns; multi-turn token deltas are not exact")
        return full[len(self.base_ids) :]
