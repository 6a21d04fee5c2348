"""HRM adapters during generation: the SSM state rides along with the KV cache.

Reference for every cached run: the same computation without a cache (full recomputation at each step,
where no state is carried at all).
"""

from __future__ import annotations

import copy
import inspect

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from peft import get_peft_model  # noqa: E402
from transformers import DynamicCache  # noqa: E402

from hankelid_torch import HRMConfig  # noqa: E402
from hankelid_torch.adapter import SSMAdapter  # noqa: E402
from hankelid_torch.hrm import HRMLayer  # noqa: E402
from hankelid_torch.hrm.context import CACHE_ARGUMENTS, cache_argument  # noqa: E402


def hrm(model, **kwargs):
    kwargs = {"d_state": 4, "seed": 0, "gate_init": 1.0, "init": "random", **kwargs}
    return get_peft_model(model, HRMConfig(**kwargs)).eval()


def cache_kw(model) -> str:
    """The cache argument's name on the installed transformers (`cache` from 5.24, else `past_key_values`)."""
    return cache_argument(list(inspect.signature(model.get_base_model().forward).parameters))


def cache_of(out):
    """The cache a forward returned, under either name."""
    return next(out[k] for k in CACHE_ARGUMENTS if out.get(k) is not None)


def step(model, cache, **kwargs):
    """One forward continuing ``cache``, passed under the installed transformers' argument name."""
    return model(**kwargs, **{cache_kw(model): cache})


def left_pad(rows, pad_id: int = 0):
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :], mask[i, width - len(r) :] = r, 1
    return ids, mask


def generate(model, ids, mask, *, use_cache, **kwargs):
    return model.generate(
        input_ids=ids,
        attention_mask=mask,
        use_cache=use_cache,
        do_sample=False,
        output_scores=True,
        return_dict_in_generate=True,
        pad_token_id=0,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("site", "parametrization"), [("mlp", "s4d"), ("attention", "s4d"), ("mlp", "modal")]
)
def test_greedy_with_and_without_cache_identical(make_mistral, token_batch, device, site, parametrization):
    ids, mask = left_pad(token_batch([7, 4, 6], seed=2))
    ids, mask = ids.to(device), mask.to(device)
    model = hrm(make_mistral(device=device), site=site, parametrization=parametrization)
    cached = generate(model, ids, mask, use_cache=True, max_new_tokens=10)
    full = generate(model, ids, mask, use_cache=False, max_new_tokens=10)
    assert torch.equal(cached.sequences, full.sequences)
    for a, b in zip(cached.scores, full.scores, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    with model.disable_adapter():  # the adapters do change the scores
        base = generate(model, ids, mask, use_cache=True, max_new_tokens=1)
    assert (base.scores[0] - cached.scores[0]).abs().max() > 1e-2


def test_static_cache_reads_padding_from_the_4d_mask(make_mistral, token_batch):
    # with a compilable (static) cache, generate() hands the model a 4-D mask instead of the 2-D one
    ids, mask = left_pad(token_batch([7, 3, 5], seed=8))
    model = hrm(make_mistral())
    static = generate(model, ids, mask, use_cache=True, max_new_tokens=6, cache_implementation="static")
    full = generate(model, ids, mask, use_cache=False, max_new_tokens=6)
    assert torch.equal(static.sequences, full.sequences)
    for a, b in zip(static.scores, full.scores, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_beam_search_with_and_without_cache_identical(make_mistral, token_batch):
    ids, mask = left_pad(token_batch([6, 3], seed=3))
    model = hrm(make_mistral())
    kwargs = {"max_new_tokens": 8, "num_beams": 3, "num_return_sequences": 2}
    cached = generate(model, ids, mask, use_cache=True, **kwargs)
    full = generate(model, ids, mask, use_cache=False, **kwargs)
    assert torch.equal(cached.sequences, full.sequences)
    torch.testing.assert_close(cached.sequences_scores, full.sequences_scores, atol=1e-5, rtol=1e-5)


def test_batched_left_padded_generation_matches_single_prompts(make_mistral, token_batch):
    rows = token_batch([8, 3, 5], seed=4)
    model = hrm(make_mistral())
    ids, mask = left_pad(rows)
    batched = generate(model, ids, mask, use_cache=True, max_new_tokens=6).sequences[:, ids.shape[1] :]
    for i, row in enumerate(rows):
        single = generate(model, row[None], None, use_cache=True, max_new_tokens=6).sequences[0, len(row) :]
        assert torch.equal(batched[i], single)


def test_manual_decoding_loop_and_chunked_prefill_match_full_recomputation(make_mistral, token_batch):
    ids, mask = left_pad(token_batch([9, 6], seed=5))
    model = hrm(make_mistral())
    full = model(input_ids=ids, attention_mask=mask).logits

    # prefill in two chunks, then feed the last tokens one by one; the cache is created by the model
    out = model(input_ids=ids[:, :4], attention_mask=mask[:, :4], use_cache=True)
    chunks = [out.logits]
    out = step(model, cache_of(out), input_ids=ids[:, 4:7], attention_mask=mask[:, :7])
    chunks.append(out.logits)
    for t in range(7, ids.shape[1]):
        out = step(model, cache_of(out), input_ids=ids[:, t : t + 1], attention_mask=mask[:, : t + 1])
        chunks.append(out.logits)
    stepped = torch.cat(chunks, dim=1)
    real = mask.bool()
    torch.testing.assert_close(stepped[real], full[real], atol=1e-5, rtol=1e-5)


def test_decoding_steps_use_the_recurrence(make_mistral, token_batch, monkeypatch):
    calls = {"step": 0, "scan_lengths": []}
    step, forward = SSMAdapter.step, SSMAdapter.forward

    def counting_step(self, *args, **kwargs):
        calls["step"] += 1
        return step(self, *args, **kwargs)

    def counting_forward(self, u, *args, **kwargs):
        calls["scan_lengths"].append(u.shape[1])
        return forward(self, u, *args, **kwargs)

    monkeypatch.setattr(SSMAdapter, "step", counting_step)
    monkeypatch.setattr(SSMAdapter, "forward", counting_forward)
    ids, mask = left_pad(token_batch([5, 3]))
    model = hrm(make_mistral())
    generate(model, ids, mask, use_cache=True, max_new_tokens=4)
    n_layers = model.config.num_hidden_layers
    assert calls["scan_lengths"] == [ids.shape[1]] * n_layers  # one scan per block, for the prompt only
    assert calls["step"] == 3 * n_layers  # the other three tokens: one recurrence step per block


def test_continuing_a_cache_without_ssm_state_is_a_clear_error(make_mistral, token_batch):
    ids = torch.stack(token_batch([6, 6]))
    model = hrm(make_mistral())
    with model.disable_adapter():  # the prompt is run without the adapters: no state is stored
        out = model(input_ids=ids, use_cache=True)
    with pytest.raises(RuntimeError, match="no SSM state was stored"):
        step(model, cache_of(out), input_ids=ids[:, -1:])


def test_state_store_follows_cache_operations(make_mistral, token_batch):
    ids = torch.stack(token_batch([5, 5, 5], seed=6))
    model = hrm(make_mistral())
    cache = DynamicCache(config=model.config)
    with torch.no_grad():
        step(model, cache, input_ids=ids, use_cache=True)
    store = cache._hrm_ssm_states
    key = ("model.layers.0.mlp", "default")
    state = store.states[key][5].clone()
    assert state.shape == (3, 4)

    cache.reorder_cache(torch.tensor([2, 0, 0]))
    assert torch.equal(store.states[key][5], state[[2, 0, 0]])
    cache.batch_select_indices(torch.tensor([1, 2]))
    assert torch.equal(store.states[key][5], state[[0, 0]])
    cache.batch_repeat_interleave(2)
    assert torch.equal(store.states[key][5], state[[0, 0, 0, 0]])

    copied = copy.deepcopy(cache)  # a copy carries its own states and still updates them
    copied.reorder_cache(torch.tensor([3, 2, 1, 0]))
    assert copied._hrm_ssm_states is not store
    assert torch.equal(store.states[key][5], state[[0, 0, 0, 0]])

    cache.crop(-2)  # the states beyond the new length are gone
    assert 5 not in store.states[key]
    cache.reset()
    assert store.states == {}


def test_rollback_by_one_step_keeps_going(make_mistral, token_batch):
    # transformers' deferred stop check crops the cache by one token; the previous state is kept
    ids = torch.stack(token_batch([7, 7], seed=7))
    model = hrm(make_mistral())
    cache = cache_of(model(input_ids=ids[:, :5], use_cache=True))
    step(model, cache, input_ids=ids[:, 5:6])
    step(model, cache, input_ids=ids[:, 2:3])  # an extra step that is then undone
    cache.crop(-1)
    last = step(model, cache, input_ids=ids[:, 6:7]).logits[:, -1]
    torch.testing.assert_close(last, model(input_ids=ids).logits[:, -1], atol=1e-5, rtol=1e-5)


def test_layers_share_one_context_per_model(make_mistral):
    model = hrm(make_mistral())
    contexts = {id(m._hrm_ctx) for m in model.modules() if isinstance(m, HRMLayer)}
    assert len(contexts) == 1 and None not in contexts


@pytest.mark.parametrize("name", CACHE_ARGUMENTS)
def test_cache_is_found_under_either_argument_name(make_mistral, token_batch, name, recwarn):
    # transformers 5.24 renamed past_key_values to cache and keeps the old name as an alias: a decoding
    # step must continue the stored SSM state whichever name the caller uses.
    if name not in inspect.signature(make_mistral().forward).parameters and name != "past_key_values":
        pytest.skip(f"transformers {__import__('transformers').__version__} has no `{name}` argument")
    ids = torch.stack(token_batch([6, 6], seed=8))
    model = hrm(make_mistral())
    cache = cache_of(model(input_ids=ids[:, :5], use_cache=True))
    last = model(input_ids=ids[:, 5:6], **{name: cache}).logits[:, -1]
    torch.testing.assert_close(last, model(input_ids=ids).logits[:, -1], atol=1e-5, rtol=1e-5)


def test_sampling_with_and_without_cache_identical(make_mistral, token_batch):
    ids, mask = left_pad(token_batch([6, 4], seed=9))
    model = hrm(make_mistral())
    runs = []
    for use_cache in (True, False):
        torch.manual_seed(0)
        runs.append(
            model.generate(
                input_ids=ids,
                attention_mask=mask,
                use_cache=use_cache,
                do_sample=True,
                top_k=0,
                max_new_tokens=8,
                output_scores=True,
                return_dict_in_generate=True,
                pad_token_id=0,
            )
        )
    cached, full = runs
    assert torch.equal(cached.sequences, full.sequences)
    for a, b in zip(cached.scores, full.scores, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
