"Properties of the error breakdown and the seed summaries that the chapters' examples do not cover."
import math

from hypothesis import given, settings, strategies as st

from ftbook.metrics import ERROR_KINDS, error_breakdown, format_mean_std, mean_std, ner_metrics

TAGS = ['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC']
sentence = st.integers(1, 12).flatmap(lambda n: st.tuples(st.lists(st.sampled_from(TAGS), min_size=n, max_size=n),
                                                          st.lists(st.sampled_from(TAGS), min_size=n, max_size=n)))

@settings(max_examples=200, deadline=None)
@given(st.lists(sentence, min_size=1, max_size=6))
def test_breakdown_accounts_for_every_entity(pairs):
    true, pred = [t for t, _ in pairs], [p for _, p in pairs]
    b, m = error_breakdown(true, pred), ner_metrics(true, pred)
    tot = b['total']
    # every true entity is correct or one kind of miss; correct ones are seqeval's true positives
    assert tot['correct'] + sum(tot[k] for k in ('type', 'boundary', 'both', 'missed')) == tot['support'] == m['entities']
    assert math.isclose(tot['correct'], m['recall'] * m['entities'], abs_tol=1e-6)
    # a spurious prediction overlaps no true entity, so there are at most as many as predicted entities not correct
    n_pred = round(tot['correct'] / m['precision']) if m['precision'] > 0 else None
    if n_pred is not None: assert tot['spurious'] <= n_pred - tot['correct']
    assert set(ERROR_KINDS) <= set(tot)

def test_breakdown_of_a_perfect_prediction_has_no_error():
    tags = [['B-PER', 'I-PER', 'O', 'B-LOC']]
    assert error_breakdown(tags, tags)['total'] == dict(support=2, correct=2, type=0, boundary=0, both=0, missed=0, spurious=0)

def test_mean_std_is_the_sample_standard_deviation():
    m, s = mean_std([1.0, 2.0, 4.0])
    assert math.isclose(m, 7 / 3) and math.isclose(s, math.sqrt(((1 - 7/3)**2 + (2 - 7/3)**2 + (4 - 7/3)**2) / 2))
    assert format_mean_std([0.5, 0.5], 2) == '0.50 ± 0.00'
