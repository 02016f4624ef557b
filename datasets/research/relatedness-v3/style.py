"""Style features of one answer (style-v1): pure, cheap functions of the text, no model.

Every regex here is valid for Rust's `regex` crate (no lookaround, no backreferences).
`extract(text) -> (numeric dict, opener word, closer word)`.
The lexicon counts (hedges, uncertainty, confidence, self_reference, refusal) port
`features::extract` with the built-in lexicon (src/features/behaviour.toml, read from the checkout).

Usage: python style.py SET...   -> cache/<set>.style.npz (numeric matrix, names, opener/closer words)
"""
import json
import math
import re
import sys
import tomllib
from pathlib import Path

import numpy as np

LEXICON = Path(__import__("os").environ.get("HIVEWATCH_REPO", "/work/main")) / "src/features/behaviour.toml"

# ---------------------------------------------------------------- lexicon port (features::extract)
_lex = tomllib.loads(LEXICON.read_text())
_R = _lex["refusal"]
OPENING = [re.compile(p) for p in _R["opening"]]
LECTURE = [re.compile(p) for p in _R["lecture"]]
REDIRECT = [re.compile(p) for p in _R["redirect"]]
HEDGING = [re.compile(p) for p in _lex["hedging"]["patterns"]]
UNCERTAINTY = [re.compile(p) for p in _lex["uncertainty"]["patterns"]]
CONFIDENCE = [re.compile(p) for p in _lex["confidence"]["patterns"]]
SELFREF = [re.compile(p) for p in _lex["self_reference"]["patterns"]]


def normalise(text: str) -> str:
    """features::normalise: lowercase, plain quotes, whitespace runs -> one space, trimmed."""
    out = []
    space = False
    for c in text.strip():
        if c.isspace():
            space = True
            continue
        if space:
            out.append(" ")
            space = False
        if c in "\u2019\u2018\u02bc":
            out.append("'")
        elif c in "\u201c\u201d":
            out.append('"')
        else:
            out.append(c.lower())
    return "".join(out)


def refusal(norm: str) -> str:
    if not norm:
        return "none"
    opening = norm[: _R["opening_chars"]]
    op = any(p.search(opening) for p in OPENING)
    late = (not op) and any(p.search(norm) for p in OPENING)
    lectures = sum(1 for p in LECTURE if p.search(norm))
    redirect = any(p.search(norm) for p in REDIRECT)
    if op or lectures >= max(_R["lecture_full_min"], 1):
        return "partial" if redirect else "full"
    if late or (_R["lecture_partial_min"] > 0 and lectures >= _R["lecture_partial_min"]):
        return "partial"
    return "none"


def count(patterns, text):
    return sum(sum(1 for _ in p.finditer(text)) for p in patterns)


# ---------------------------------------------------------------- style-v1 patterns
# Line patterns are applied to each line of the raw text (after \r\n -> \n).
RE_BULLET = re.compile(r"^\s*[-*+\u2022]\s+\S")
RE_NUMBERED = re.compile(r"^\s*[0-9]{1,3}[.)]\s+\S")
RE_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
RE_BOLD_LINE = re.compile(r"^\s*\*\*[^*]+\*\*:?\s*$")
RE_ITEM_BOLD = re.compile(r"^\s*(?:[-*+\u2022]|[0-9]{1,3}[.)])\s+\*\*")
RE_ITEM_TERM = re.compile(r"^\s*(?:[-*+\u2022]|[0-9]{1,3}[.)])\s+[^:\n]{1,60}:\s")
RE_TABLE = re.compile(r"^\s*\|.*\|\s*$")
RE_FENCE = re.compile(r"^\s*```")
RE_QUOTE = re.compile(r"^\s*>")
RE_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")
# Text patterns on the raw text.
RE_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
RE_INLINE_CODE = re.compile(r"`[^`\n]+`")
RE_EMDASH = re.compile(r"\u2014|\s--\s")
RE_ENDASH = re.compile(r"\u2013")
RE_SPACED_HYPHEN = re.compile(r"\S - \S")
RE_ELLIPSIS = re.compile(r"\u2026|\.\.\.")
RE_ALLCAPS = re.compile(r"\b[A-Z]{2,}\b")
RE_EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")
RE_CURLY = re.compile("[\u2018\u2019\u201c\u201d]")
RE_STRAIGHT = re.compile("['\"]")
RE_DQUOTE = re.compile('["\u201c\u201d]')
# Normalised-text patterns (lowercase, plain quotes, one space).
RE_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i've|i'd|i'll|me|my|mine|myself)\b")
RE_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|yourself|you're|you've|you'll|you'd)\b")
RE_NOTE = re.compile(r"\b(?:please note|note:|note that|keep in mind|remember that|it's important to|it is important to)")
OP_AFFIRM = re.compile(r"^(?:sure|certainly|absolutely|of course|definitely|yes|yeah|great|okay|ok|alright|gladly|happy to|i'd be happy|i would be happy|i'm happy|i'd be glad|i would be glad)\b")
OP_APOLOGY = re.compile(r"^(?:i'm sorry|i am sorry|sorry|i apologi[sz]e|unfortunately)\b")
OP_AI = re.compile(r"^as an? (?:[a-z-]+ )?(?:ai|artificial intelligence|language model|large language model|assistant)\b")
OP_HERE = re.compile(r"^here(?:'s| is| are)\b")
OP_MARKUP = re.compile(r"^\s*(?:#|\*\*|[-*+\u2022]\s|[0-9]{1,3}[.)]\s|\|)")
CL_HOPE = re.compile(r"\bi hope (?:this|that|these|it|my|you)\b")
CL_INVITE = re.compile(r"\b(?:let me know|feel free|don't hesitate|do not hesitate|happy to help|glad to help)\b")
CL_WISH = re.compile(r"\b(?:good luck|best of luck|enjoy|have a (?:great|good|nice|wonderful))\b")
CL_SUMMARY = re.compile(r"^(?:in conclusion|in summary|overall|to summarize|to summarise|to sum up|ultimately|in short)\b")
RE_WORD = re.compile(r"\w+")

NUMERIC = [
    # (name, group)
    ("words", "length"), ("word_len", "length"), ("sent_len", "length"), ("paragraphs", "length"),
    ("bullets", "layout"), ("numbered", "layout"), ("headings", "layout"), ("bold_lines", "layout"),
    ("item_bold", "layout"), ("item_term", "layout"), ("tables", "layout"), ("fences", "layout"),
    ("quotes_rules", "layout"), ("double_breaks", "layout"), ("edge_space", "layout"),
    ("bold", "markup"), ("inline_code", "markup"),
    ("exclaim", "punct"), ("question", "punct"), ("emdash", "punct"), ("endash", "punct"),
    ("spaced_hyphen", "punct"), ("semicolon", "punct"), ("colon", "punct"), ("comma", "punct"),
    ("paren", "punct"), ("dquote", "punct"), ("curly", "punct"), ("ellipsis", "punct"),
    ("emoji", "chars"), ("allcaps", "chars"), ("digits", "chars"), ("nonascii", "chars"),
    ("hedges", "lexicon"), ("uncertainty", "lexicon"), ("confidence", "lexicon"), ("self_reference", "lexicon"),
    ("refusal_full", "refusal"), ("refusal_partial", "refusal"),
    ("first_person", "person"), ("second_person", "person"),
    ("op_affirm", "opener"), ("op_apology", "opener"), ("op_ai", "opener"), ("op_here", "opener"),
    ("op_markup", "opener"), ("op_colon", "opener"),
    ("cl_hope", "closer"), ("cl_invite", "closer"), ("cl_wish", "closer"), ("cl_question", "closer"),
    ("cl_summary", "closer"), ("note", "closer"),
]
NAMES = [n for n, _ in NUMERIC]
GROUPS = [g for _, g in NUMERIC]


def ln1p(x):
    return math.log1p(x)


def rate(c, words):
    """ln(1 + 100 * count / max(words, 1)): occurrences per 100 words, damped."""
    return math.log1p(100.0 * c / max(words, 1))


def first_word(norm_piece: str) -> str:
    m = RE_WORD.search(norm_piece)
    return m.group(0)[:24] if m else ""


def sentences(text: str):
    """features::sentences(text, usize::MAX): a sentence is a run of characters up to and
    including its '.', '!' or '?' marks, or up to a line break; pieces shorter than 3 characters
    are skipped; each piece normalised. A text with no such piece is one sentence, the whole of it."""
    out, rest = [], text
    marks = ".!?\n"
    while True:
        start = next((i for i, c in enumerate(rest) if c not in marks), None)
        if start is None:
            break
        rest = rest[start:]
        body = next((i for i, c in enumerate(rest) if c in marks), len(rest))
        end = body + next((i for i, c in enumerate(rest[body:]) if c not in ".!?"), len(rest) - body)
        piece = rest[:end].strip()
        if len(piece) >= 3:
            out.append(normalise(piece))
        rest = rest[end:]
    return out or [normalise(text)]


def extract(text: str):
    t = text.replace("\r\n", "\n")
    lines = t.split("\n")
    nonblank = [l for l in lines if l.strip()]
    words = len(t.split())
    chars = len(t)
    norm = normalise(t)
    # paragraphs: maximal runs of non-blank lines
    paragraphs, inside = 0, False
    for l in lines:
        if l.strip():
            if not inside:
                paragraphs += 1
            inside = True
        else:
            inside = False
    sents = sentences(t)
    n_sent = len(sents)
    line_count = lambda rx: sum(1 for l in nonblank if rx.search(l))
    nl = t.count("\n")
    dbl = len(re.findall(r"\n[ \t]*\n", t))
    alpha_words = [w for w in t.split()]
    first_sent, last_sent = sents[0], sents[-1]
    # last paragraph, normalised
    last_par = normalise(t.strip().split("\n\n")[-1]) if t.strip() else ""
    first_line = nonblank[0] if nonblank else ""
    refl = refusal(norm)
    curly = len(RE_CURLY.findall(t))
    straight = len(RE_STRAIGHT.findall(t))
    v = {
        "words": ln1p(words),
        "word_len": ln1p(sum(len(w) for w in alpha_words) / max(words, 1)),
        "sent_len": ln1p(words / n_sent),
        "paragraphs": ln1p(paragraphs),
        "bullets": ln1p(line_count(RE_BULLET)),
        "numbered": ln1p(line_count(RE_NUMBERED)),
        "headings": ln1p(line_count(RE_HEADING)),
        "bold_lines": ln1p(line_count(RE_BOLD_LINE)),
        "item_bold": ln1p(line_count(RE_ITEM_BOLD)),
        "item_term": ln1p(line_count(RE_ITEM_TERM)),
        "tables": ln1p(line_count(RE_TABLE)),
        "fences": ln1p(line_count(RE_FENCE)),
        "quotes_rules": ln1p(line_count(RE_QUOTE) + line_count(RE_RULE)),
        "double_breaks": (dbl / nl) if nl else 0.0,
        "edge_space": float(t[:1].isspace()) + float(t[-1:].isspace()),
        "bold": ln1p(len(RE_BOLD.findall(t))),
        "inline_code": ln1p(len(RE_INLINE_CODE.findall(t))),
        "exclaim": rate(t.count("!"), words),
        "question": rate(t.count("?"), words),
        "emdash": rate(len(RE_EMDASH.findall(t)), words),
        "endash": rate(len(RE_ENDASH.findall(t)), words),
        "spaced_hyphen": rate(len(RE_SPACED_HYPHEN.findall(t)), words),
        "semicolon": rate(t.count(";"), words),
        "colon": rate(t.count(":"), words),
        "comma": rate(t.count(","), words),
        "paren": rate(t.count("("), words),
        "dquote": rate(len(RE_DQUOTE.findall(t)), words),
        "curly": curly / (curly + straight) if curly + straight else 0.0,
        "ellipsis": rate(len(RE_ELLIPSIS.findall(t)), words),
        "emoji": ln1p(len(RE_EMOJI.findall(t))),
        "allcaps": rate(len(RE_ALLCAPS.findall(t)), words),
        "digits": sum("0" <= c <= "9" for c in t) / max(chars, 1),
        "nonascii": sum(ord(c) > 127 for c in t) / max(chars, 1),
        "hedges": ln1p(count(HEDGING, norm)),
        "uncertainty": ln1p(count(UNCERTAINTY, norm)),
        "confidence": ln1p(count(CONFIDENCE, norm)),
        "self_reference": ln1p(count(SELFREF, norm)),
        "refusal_full": float(refl == "full"),
        "refusal_partial": float(refl == "partial"),
        "first_person": rate(len(RE_FIRST_PERSON.findall(norm)), words),
        "second_person": rate(len(RE_SECOND_PERSON.findall(norm)), words),
        "op_affirm": float(bool(OP_AFFIRM.search(first_sent))),
        "op_apology": float(bool(OP_APOLOGY.search(first_sent))),
        "op_ai": float(bool(OP_AI.search(first_sent))),
        "op_here": float(bool(OP_HERE.search(first_sent))),
        "op_markup": float(bool(OP_MARKUP.search(first_line))),
        "op_colon": float(first_line.rstrip().endswith(":")),
        "cl_hope": float(bool(CL_HOPE.search(last_sent))),
        "cl_invite": float(bool(CL_INVITE.search(last_sent))),
        "cl_wish": float(bool(CL_WISH.search(last_sent))),
        "cl_question": float(last_sent.rstrip().endswith("?")),
        "cl_summary": float(bool(CL_SUMMARY.search(last_par))),
        "note": ln1p(len(RE_NOTE.findall(norm))),
    }
    return [v[n] for n in NAMES], first_word(first_sent), first_word(last_sent)


def main(sets):
    here = Path(__file__).parent
    for s in sets:
        X, op, cl = [], [], []
        with open(here / "data" / f"{s}.jsonl") as f:
            for line in f:
                r = json.loads(line)
                text = r.get("response") or ""
                x, o, c = extract(text)
                X.append(x)
                op.append(o)
                cl.append(c)
        X = np.asarray(X, dtype=np.float64)
        np.savez_compressed(here / "cache" / f"{s}.style.npz", X=X, names=np.array(NAMES), groups=np.array(GROUPS),
                            opener=np.array(op), closer=np.array(cl))
        print(s, X.shape, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
