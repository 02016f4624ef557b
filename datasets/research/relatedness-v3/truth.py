"""What counts as related when JUDGING (never a feature). Fixed before any v3 figure was computed.

Vendor: the name rule of relatedness.md section 3, unchanged (first match, case-insensitive);
no extension (its known misses are kept, as in v2: zephyr-7b-beta / OpenHermes-2.5-Mistral-7B
are Mistral-7B fine-tunes, alpaca-7b was distilled from text-davinci-003, tulu-30b / oasst,
mpt-30b-instruct / dolly share data). Everything else is its own vendor.
"""
import re

VENDOR_RULES = [
    (r"^gpt4all", None),  # not OpenAI: falls through to "own vendor"
    (r"^(gpt-?3\.5|gpt-?4|gpt4_|text[-_]davinci)", "OpenAI"),
    (r"^claude", "Anthropic"),
    (r"^(meta-)?llama|^lima", "Meta"),
    (r"^(mistral|mixtral)", "Mistral"),
    (r"^qwen", "Alibaba"),
    (r"^(gemini|gemma|palm)", "Google"),
    (r"^(vicuna|fastchat)", "LMSYS"),
    (r"^tulu", "AI2"),
    (r"^yi-", "01.AI"),
    (r"^wizardlm", "WizardLM"),
    (r"^mpt", "MosaicML"),
    (r"^oasst", "OpenAssistant"),
    (r"^guanaco", "Guanaco"),
    (r"^reka", "Reka"),
    (r"^phi", "Microsoft"),
]


def vendor(model):
    m = model.lower()
    for rx, v in VENDOR_RULES:
        if re.search(rx, m):
            return v if v else "own:" + model
    return "own:" + model


# Same model served two ways (decoding, quantisation, snapshot): each must be the other's top relative.
SAME_MODEL = {
    "wildbench": [("Qwen1.5-72B-Chat", "Qwen1.5-72B-Chat-greedy")],
    "justeval": [("Llama-2-70B-chat-GPTQ", "Llama-2-70b-hf"), ("gpt-4-0314", "gpt-4-0613")],
}

# Derived -> base (directed: the base must rank first in the derived model's list).
DERIVED = {
    "mtbench": [("lima-whole-13b", "llama-13b")],
    "wildbench": [("Qwen1.5-72B-Chat-greedy", "Qwen1.5-72B-Chat")],
    "justeval": [("Llama-2-70b-hf", "Llama-2-70B-chat-GPTQ"), ("Llama-2-70B-chat-GPTQ", "Llama-2-70b-hf"),
                 ("gpt-4-0613", "gpt-4-0314"), ("gpt-4-0314", "gpt-4-0613")],
    "alpaca": [],
}

# Distilled -> teacher (reported, not a goal): model-card facts.
TEACHER = {
    "mtbench": [(m, "gpt-3.5-turbo") for m in ["vicuna-7b-v1.3", "vicuna-13b-v1.3", "vicuna-33b-v1.3", "fastchat-t5-3b",
                                                "gpt4all-13b-snoozy", "wizardlm-13b", "wizardlm-30b", "baize-v2-13b",
                                                "koala-13b"]] + [("nous-hermes-13b", "gpt-4")],
    "alpaca": [("alpaca-7b", "text_davinci_003")],
}

# Same base, same kind of data: the six Llama-3-8B SFTs.
GROUPS = {
    "wildbench": [["Llama-3-8B-OpenHermes-243K", "Llama-3-8B-ShareGPT-112K", "Llama-3-8B-Tulu-330K",
                   "Llama-3-8B-Ultrachat-200K", "Llama-3-8B-WildChat", "Llama-3-8B-WizardLM-196K"]],
}

# v2's must-pass mutual-nearest pairs.
MUST = {
    "mtbench": [("claude-instant-v1", "claude-v1"), ("guanaco-33b", "guanaco-65b"), ("lima-whole-13b", "llama-13b")],
    "wildbench": [("Qwen1.5-72B-Chat", "Qwen1.5-72B-Chat-greedy")],
    "justeval": [("Llama-2-70B-chat-GPTQ", "Llama-2-70b-hf")],
    "alpaca": [],
}


def table(models_by_set):
    """The truth table as markdown lines."""
    out = []
    for s, models in models_by_set.items():
        v = {}
        for m in models:
            v.setdefault(vendor(m), []).append(m)
        multi = {k: sorted(x) for k, x in v.items() if len(x) > 1}
        out.append(f"- **{s}** ({len(models)} models, {len(v)} vendors): " +
                   "; ".join(f"{k}: {', '.join(x)}" for k, x in sorted(multi.items())) +
                   f"; alone: {', '.join(sorted(m for k, x in v.items() if len(x) == 1 for m in x))}")
    return out
