"""`pretrained_transformer`: a pretrained Hugging Face encoder or decoder over given input vectors."""
from typing import Optional, Tuple

import torch
from overrides import overrides

from lmlab.common.pretrained_transformers import import_transformers, load_config
from lmlab.modules.pretrained_transformers import load_model
from lmlab.modules.seq2seq_encoders.seq2seq_encoder import Seq2SeqEncoder, StepState


@Seq2SeqEncoder.register("pretrained_transformer")
class PretrainedTransformerEncoder(Seq2SeqEncoder):
    """A pretrained model's layers (`AutoModel`) run on input vectors (`inputs_embeds`) instead of ids: the
    contextualizer of a `language_model` whose text field embedder is the same model's
    "pretrained_transformer_embedding" (its input embedding table).

    Registered as a `Seq2SeqEncoder` with name "pretrained_transformer". Needs `lmlab[transformers]`.

    Parameters
        model_name: str             the model folder (or hub name).
        train_parameters: bool = True   false freezes the model.
        load_weights: bool = True   false: random weights (archives set it; theirs come from the archive).
    Inputs
        inputs: (B, T, H) float, the model's input embeddings of the tokens (positions are added inside);
        mask: (B, T) bool, right-padded.
    Outputs
        (B, T, H) the model's last hidden state; zeros where mask is False.
    Notes
        A causal model (a decoder, or an architecture without a masked-LM class: GPT-2, Llama, ...) never
        peeks (`no_peeking()`), and `step` carries its keys and values (the model's own cache): each new
        token costs one position. State: {"keys.l", "values.l": (B, heads, T_c, head size) for each layer
        l, "key_mask": (B, T_c) bool, True = a real cached position, "lengths": (B,) long, real positions so
        far}; a row's padding stays in the cache, masked out, so rows of different lengths share one cache.
        Positions are counted per row (`position_ids`), so padding never shifts them.
    """

    def __init__(self, model_name: str, train_parameters: bool = True, load_weights: bool = True) -> None:
        super().__init__()
        self.model_name = model_name
        self.transformer_model = load_model(model_name, "base", load_weights)
        config = load_config(model_name)
        masked = type(config) in import_transformers().MODEL_FOR_MASKED_LM_MAPPING
        self.causal = bool(getattr(config, "is_decoder", False)) or not masked
        self.dim = int(self.transformer_model.config.hidden_size)
        self.num_layers = int(self.transformer_model.config.num_hidden_layers)
        self.train_parameters = train_parameters
        if not train_parameters:
            for parameter in self.transformer_model.parameters():
                parameter.requires_grad_(False)

    @overrides
    def get_input_dim(self) -> int:
        return self.dim

    @overrides
    def get_output_dim(self) -> int:
        return self.dim

    @overrides
    def is_bidirectional(self) -> bool:
        return False

    @overrides
    def no_peeking(self) -> bool:
        return self.causal

    @overrides
    def can_step(self) -> bool:
        return self.causal

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.bool()
        hidden = self.transformer_model(inputs_embeds=inputs, attention_mask=mask.long(),
                                        position_ids=self._positions(mask.new_zeros(mask.shape[0]).long(), mask),
                                        use_cache=False).last_hidden_state  # (B, T, H)
        return hidden * mask.unsqueeze(-1).to(hidden.dtype)

    @staticmethod
    def _positions(lengths: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T) position of each new input: the row's real positions so far, counted on (padding: the last)."""
        return lengths.unsqueeze(1) + (mask.long().cumsum(dim=1) - 1).clamp(min=0)  # (B, T)

    @overrides
    def step(self, inputs: torch.Tensor, mask: torch.Tensor,
             state: Optional[StepState] = None) -> Tuple[torch.Tensor, StepState]:
        if not self.causal:
            return super().step(inputs, mask, state)
        from transformers import DynamicCache

        mask = mask.bool()
        batch_size = inputs.shape[0]
        if state is None:
            cache = None
            key_mask = mask.new_zeros(batch_size, 0)
            lengths = torch.zeros(batch_size, dtype=torch.long, device=inputs.device)
        else:
            cache = DynamicCache(ddp_cache_data=[(state[f"keys.{layer}"], state[f"values.{layer}"])
                                                 for layer in range(self.num_layers)])
            key_mask, lengths = state["key_mask"], state["lengths"]
        all_mask = torch.cat([key_mask, mask], dim=1)  # (B, T_c + T)
        output = self.transformer_model(inputs_embeds=inputs, attention_mask=all_mask.long(), cache=cache,
                                        position_ids=self._positions(lengths, mask), use_cache=True)
        hidden = output.last_hidden_state * mask.unsqueeze(-1).to(inputs.dtype)  # (B, T, H)
        new_state: StepState = {"key_mask": all_mask, "lengths": lengths + mask.sum(dim=1)}
        for layer, cached in enumerate(output.cache.layers):
            new_state[f"keys.{layer}"] = cached.keys  # (B, heads, T_c + T, head size)
            new_state[f"values.{layer}"] = cached.values
        return hidden, new_state

    def extra_repr(self) -> str:
        return f"model_name={self.model_name!r}, causal={self.causal}, train_parameters={self.train_parameters}"
