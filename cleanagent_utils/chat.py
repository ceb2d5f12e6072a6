"""The chat template as token deltas: a conversation is extended token by token, never decoded and
re-encoded, so the trained ids are exactly the sampled ones."""

from __future__ import annotations


def chat_ids(tokenizer, messages: list[dict], add_generation_prompt: bool = False,
             tools: list[dict] | None = None) -> list[int]:
    return list(tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=add_generation_prompt,
                                              tokenize=True, return_dict=True)["input_ids"])


def chat_text(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=False)


class ChatFormat:
    """Token deltas of the chat template, so sampled tokens are never decoded and re-encoded.

    The template renders a fixed base conversation (system, user, assistant) once; an observation is
    then appended as the tokens the template writes after the base's assistant turn when an
    observation turn follows it (SkyRL's trick). Only what comes after the assistant's end-of-turn
    token is taken: templates may render earlier turns differently once a later one exists (Qwen3
    keeps the thinking block of the latest assistant turn only), and the sampled tokens are never
    re-rendered anyway.

    `end_of_turn` is the token that closes an assistant turn in the template (SmolLM's and Qwen's
    `<|im_end|>`, Llama 3's `<|eot_id|>`, Gemma's `<end_of_turn>`, Mistral's `</s>`), found as the
    first special token after the assistant's text; `after_turn` what the template writes after it
    (e.g. "\\n"); `stop_ids` every token that ends a reply: `end_of_turn`, the tokenizer's eos and the
    end ids of the model's generation config (`generation_eos`: Qwen's `<|endoftext|>`, Llama 3's
    `<|eom_id|>`). Templates without a system role, or that move the system message to the latest
    user turn (Gemma 1/2 refuse it, Mistral's v3 template moves it), get the instructions at the start
    of the first user turn instead (`fold_system`). Tool schemas go through the template when it
    renders tools (`native_tools`, e.g. Qwen2.5), else as the env's text description after the
    instructions; tool results likewise become tool messages or user turns.
    Every check runs on the tokenizer alone, before any weights load.
    """

    SYSTEM, USER, ASSISTANT = "sysprobe", "usrprobe", "astprobe"

    def __init__(self, tokenizer, generation_eos: int | list[int] | None = None):
        self.tokenizer = tokenizer
        self.fold_system = not self._system_first()
        self.BASE = ([] if self.fold_system else [{"role": "system", "content": self.SYSTEM}]) + [
            {"role": "user", "content": self.USER}, {"role": "assistant", "content": self.ASSISTANT}]
        self.base_ids = chat_ids(tokenizer, self.BASE)
        self.end_of_turn = self._end_of_turn()
        self.turns_in_base = self.base_ids.count(self.end_of_turn)
        last = len(self.base_ids) - 1 - self.base_ids[::-1].index(self.end_of_turn)
        self.after_turn = self.base_ids[last + 1 :]
        extra = [generation_eos] if isinstance(generation_eos, int) else list(generation_eos or [])
        ends = [self.end_of_turn, tokenizer.eos_token_id, *extra]
        self.stop_ids = tuple(dict.fromkeys(i for i in ends if i is not None))
        self.native_tools = "tools" in (tokenizer.chat_template or "")

    def _system_first(self) -> bool:
        """Whether the template renders a system message first and keeps it there when more turns follow."""
        probe = [{"role": "system", "content": self.SYSTEM}, {"role": "user", "content": self.USER},
                 {"role": "assistant", "content": self.ASSISTANT}, {"role": "user", "content": "next"}]
        try:
            text = chat_text(self.tokenizer, probe)
        except Exception:  # the template refuses a system role (Gemma 1/2)
            return False
        return self.SYSTEM in text and text.index(self.SYSTEM) < text.index(self.USER)

    def _end_of_turn(self) -> int:
        """The first special token after the assistant's text in the base conversation."""
        tokenizer = self.tokenizer
        text = chat_text(tokenizer, self.BASE)
        end = text.rindex(self.ASSISTANT) + len(self.ASSISTANT)
        special = set(tokenizer.all_special_ids) | {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
        try:
            encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        except NotImplementedError:  # a slow tokenizer has no offsets: the eos, as older templates end turns
            encoded = None
        if encoded is not None and list(encoded["input_ids"]) == self.base_ids:
            for token, (start, _) in zip(encoded["input_ids"], encoded["offset_mapping"]):
                if start >= end and token in special:
                    return token
        if tokenizer.eos_token_id in self.base_ids:
            return tokenizer.eos_token_id
        raise SystemExit("error: the chat template closes assistant turns with no special token this project can find "
                         f"(after the assistant's text it renders {text[end:end + 40]!r})")

    def _messages(self, instructions: str, first: list[dict]) -> list[dict]:
        if not self.fold_system:
            return [{"role": "system", "content": instructions}, *first]
        first = [dict(m) for m in first]
        first[0]["content"] = f"{instructions}\n\n{first[0]['content']}"
        return first

    def prompt(self, instructions: str, observation: str, demonstration=(), tools=None,
               tools_text: str = "") -> list[int]:
        """The first prompt: system instructions (and tools), optional (observation, reply) example turns, the task."""
        if tools_text and not self.native_tools:
            instructions = f"{instructions}\n\n{tools_text}"
        turns = []
        for example_observation, example_reply in demonstration:
            turns += [{"role": "user", "content": example_observation}, {"role": "assistant", "content": example_reply}]
        turns.append({"role": "user", "content": observation})
        return chat_ids(self.tokenizer, self._messages(instructions, turns), True,
                        tools=tools if tools and self.native_tools else None)

    def observation(self, text: str, role: str = "user", tool_messages=None) -> list[int]:
        """The tokens that follow an assistant turn's end-of-turn token and the template's glue after it: the
        observation's turn and the next assistant turn's header."""
        use_tools = role == "tool" and tool_messages and self.native_tools
        messages = tool_messages if use_tools else [{"role": "user", "content": text}]
        full = chat_ids(self.tokenizer, self.BASE + messages, True)
        seen, start = 0, None
        for i, token in enumerate(full):
            if token == self.end_of_turn:
                seen += 1
                if seen == self.turns_in_base:
                    start = i + 1
                    break
        glue = full[start : start + len(self.after_turn)] if start is not None else None
        if glue != self.after_turn:
            raise SystemExit("error: this chat template renders the turn after an assistant reply in a way the token "
                             "deltas cannot follow (the base conversation's end-of-turn tokens moved)")
        return full[start + len(self.after_turn) :]
