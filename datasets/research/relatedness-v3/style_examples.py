"""Test vectors for the Rust port of style-v1: raw feature values of a few texts, to 1e-9."""
import style
TEXTS = [
    "Sure! Here are three tips:\n\n1. **Sleep** well - at least 7 hours.\n2. **Eat** greens; avoid sugar.\n3. Walk daily \u2014 it helps.\n\nI hope this helps!",
    "As an AI language model, I cannot provide medical advice. However, here are some general points you might consider:\n- See a doctor.\n- Rest.\n\nLet me know if you have other questions?",
    "## Answer\n\nThe capital of France is `Paris` (population ~2.1M). NOTE: it's also the largest city \U0001F600...\n\n| city | pop |\n|---|---|\n| Paris | 2.1M |\n\nIn conclusion, Paris.",
    "  The answer is 42.\n",
]
if __name__ == "__main__":
    for i, t in enumerate(TEXTS):
        x, op, cl = style.extract(t)
        print(f"text {i}: {t!r}")
        print(f"  opener {op!r}, closer {cl!r}")
        print("  " + ", ".join(f"{n}={v:.9f}" for n, v in zip(style.NAMES, x)))
