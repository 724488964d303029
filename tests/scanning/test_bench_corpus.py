"""The benchmark's corpus and scoring: an answer key that is right, a score that counts right."""

from __future__ import annotations

from bench.secret_corpus import SECRET_MAKERS, Corpus, Lure, Planted, generate
from bench.secret_scan import score
from cievents.scanning import Scanner
from cievents.scanning.normalize import normalize
from cievents.scanning.rules import RULES

SEED = 1234  # not the benchmark's seed


def test_every_rule_family_is_planted() -> None:
    assert {family for family, _ in SECRET_MAKERS} == {rule.family for rule in RULES}


def test_the_answer_key_points_at_the_secrets_and_the_lures() -> None:
    corpus = generate(SEED, 0.5)
    lines = corpus.text.split("\n")
    assert all(line.startswith("\x1b_bk;t=") for line in lines[:-1])  # the agent's real marker
    clean = [normalize(line).text for line in lines]
    for p in corpus.planted:
        assert p.secret.replace("\n", "") in "".join(clean[p.line - 1 : p.end_line])
    assert corpus.lures and all(1 <= lure.line <= len(lines) for lure in corpus.lures)
    assert not {lure.line for lure in corpus.lures} & {p.line for p in corpus.planted}


def test_score_counts_each_secret_once_and_charges_false_positives_to_families() -> None:
    corpus = Corpus(
        text="",
        planted=[Planted("aws", 3, 3, "AKIA…"), Planted("private-key", 10, 20, "-----BEGIN…")],
        lures=[Lure("stripe", 5), Lure("aws", 6)],
    )
    flagged = {3: ["aws"], 10: ["private-key"], 15: ["generic inside the key"], 5: ["stripe"]}
    flagged[40] = ["entropy"]  # plain CI noise
    result = score(flagged, corpus)
    assert (result.found, result.planted, result.false_positives) == (2, 2, 2)
    assert result.recall == 1.0 and result.precision == 0.5
    assert result.by_family["stripe"] == [0, 0, 1] and result.by_family["noise"] == [0, 0, 1]
    assert result.by_family["private-key"] == [1, 1, 0]
    assert score({}, corpus).recall == 0.0 and score({}, corpus).precision == 1.0


def test_the_engine_finds_the_corpus_and_both_engines_agree() -> None:
    corpus = generate(SEED, 0.5)
    data = corpus.text.encode()
    by_engine = {}
    for engine in ("hyperscan", "aho-corasick"):
        findings = Scanner(engine=engine, fingerprint_key="k").scan_bytes(data)
        by_engine[engine] = findings
        result = score({f.line: [f.rule_id] for f in findings}, corpus)
        assert result.recall >= 0.97 and result.precision >= 0.97, result
    assert by_engine["hyperscan"] == by_engine["aho-corasick"]
