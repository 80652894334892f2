import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlab.common.params import Params  # noqa: E402
from lmlab.common.testing.tiny_transformers import FAMILIES, tiny_transformer  # noqa: E402
from lmlab.modules.language_model_heads import LanguageModelHead  # noqa: E402
from lmlab.modules.seq2seq_encoders import PretrainedTransformerEncoder  # noqa: E402
from lmlab.modules.softmax_losses import SoftmaxLoss  # noqa: E402
from lmlab.modules.token_embedders import PretrainedTransformerEmbedding  # noqa: E402


@pytest.mark.parametrize("family", FAMILIES)
def test_head_on_the_encoders_output_gives_the_task_models_logits(family):
    folder = str(tiny_transformer(family))
    name = "gpt2" if family == "gpt2" else "bert"  # AllenNLP's names: a causal LM's head, a masked LM's head
    head = LanguageModelHead.from_params(Params({"type": name, "model_name": folder})).eval()
    task = (transformers.AutoModelForCausalLM if family == "gpt2" else transformers.AutoModelForMaskedLM)
    model = task.from_pretrained(folder).eval()
    encoder = transformers.AutoModel.from_pretrained(folder).eval()
    ids = transformers.AutoTokenizer.from_pretrained(folder)(["the cat sat on the mat ."], return_tensors="pt")
    with torch.no_grad():
        hidden = encoder(**ids).last_hidden_state  # (1, T, H)
        assert torch.allclose(head(hidden), model(**ids).logits, atol=1e-5)
        assert torch.allclose(head(hidden[0, 2]), model(**ids).logits[0, 2], atol=1e-5)  # any leading shape
    assert (head.get_input_dim(), head.get_output_dim()) == (32, model.config.vocab_size)
    assert head.causal == (family == "gpt2")


def test_softmax_of_a_head_and_weight_tying():
    folder = str(tiny_transformer("gpt2"))
    softmax = SoftmaxLoss.from_params(Params({"type": "language_model_head", "language_model_head": {
        "type": "pretrained_transformer", "model_name": folder}}), num_words=400, embedding_dim=32)
    embeddings, targets = torch.randn(5, 32), torch.tensor([1, 7, 3, 0, 399])
    log_probs = softmax.log_probs(embeddings)  # (5, V)
    assert torch.allclose(softmax(embeddings, targets), -log_probs.gather(1, targets[:, None]).sum(), atol=1e-5)
    table = PretrainedTransformerEmbedding(folder)
    softmax.tie_weights(table.weight)
    assert softmax.language_model_head.head_model.lm_head.weight is table.weight
    with pytest.raises(Exception, match="head scores 400 words"):
        SoftmaxLoss.from_params(Params({"type": "language_model_head", "language_model_head": {
            "type": "gpt2", "model_name": folder}}), num_words=6, embedding_dim=32)


def test_causal_encoder_steps_with_its_cache_as_forward_over_the_prefix():
    folder = str(tiny_transformer("gpt2"))
    encoder = PretrainedTransformerEncoder(folder).eval()
    assert encoder.no_peeking() and encoder.can_step()
    assert not PretrainedTransformerEncoder(str(tiny_transformer("bert"))).no_peeking()
    inputs = torch.randn(2, 7, 32)
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    with torch.no_grad():
        whole = encoder(inputs, mask)  # (2, 7, 32)
        first, state = encoder.step(inputs[:, :3], torch.ones(2, 3, dtype=torch.bool))
        second, state = encoder.step(inputs[:, 3:5], torch.tensor([[True, True], [True, False]]), state)
        third, _ = encoder.step(inputs[:, 5:6], torch.tensor([[True], [False]]), state)
    assert torch.allclose(first, whole[:, :3], atol=1e-5)
    assert torch.allclose(second[0], whole[0, 3:5], atol=1e-5)
    assert torch.allclose(second[1, 0], whole[1, 3], atol=1e-5)
    assert torch.allclose(third[0], whole[0, 5:6], atol=1e-5)
    assert torch.all(whole[1, 4:] == 0) and torch.all(third[1] == 0)
