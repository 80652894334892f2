"""The ELMo bidirectional language model: character encoder + two stacks of projected LSTMs.

`ElmoLstm` is the pair of LSTM stacks (forward and backward, no weights shared) with bilm-tf's cell:
TensorFlow gate order `[i, j, f, o]`, a +1.0 forget bias added at run time, cell and projection
clipping, and residual connections around every layer but the first. `ElmoBiLm` puts the character
encoder in front and returns the three layers ELMo mixes.

Both stacks are stepped by hand (cuDNN's LSTM has no projection clipping or run-time forget bias). Only
time is looped over, and padding is never computed: the rows are sorted by length once per call (as
bilm-tf's and AllenNLP's LSTMs do), the input half of every gate is one matmul over the real positions
only, and each step does one batched matmul for both directions and the rows that still have a token.
"""
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import torch

from lmlab.common.errors import ConfigurationError
from lmlab.modules.elmo.character_encoder import (
    ElmoCharacterEncoder,
    add_sentence_boundaries,
    load_elmo_options,
    open_weight_file,
    option,
    read_dataset,
)
from lmlab.modules.elmo.character_ids import BOS_CHAR_IDS, EOS_CHAR_IDS, tokens_to_char_ids

FORGET_BIAS = 1.0
"""Added to the forget gate at every step; bilm-tf (TensorFlow's LSTMCell) does not store it in `B`."""


class _Packing(NamedTuple):
    """How `ElmoLstm` steps a right-padded batch: rows sorted longest first, real positions only.

    order: (B,) int64, the rows sorted by length, longest first (ties keep their order).
    batch_sizes: for each step t below the longest length, how many rows have a token at t; they are the
        first rows of `order`. Host ints: they drive the loop over time.
    positions: (2, N) int64 flat indices into (B * T), N = the number of real positions, time-major like
        a `PackedSequence`: packed position k is (step t, sorted row r); `positions[0, k]` is that row's
        position t (forward direction) and `positions[1, k]` its position length - 1 - t (backward).
    """

    order: torch.Tensor
    batch_sizes: List[int]
    positions: torch.Tensor

    @classmethod
    def from_mask(cls, mask: torch.Tensor) -> "_Packing":
        timesteps = mask.size(1)
        lengths = mask.sum(dim=1)  # (B,)
        sorted_lengths, order = lengths.sort(descending=True, stable=True)  # (B,), (B,)
        steps = torch.arange(timesteps, device=mask.device)  # (T,)
        active = steps.unsqueeze(1) < sorted_lengths.unsqueeze(0)  # (T, B), a prefix of the rows at each step
        # Host sync (once per call): the step sizes decide how much work each step of the Python loop does.
        batch_sizes = [size for size in active.sum(dim=1).tolist() if size > 0]
        step, rank = active.nonzero_static(size=sum(batch_sizes)).unbind(1)  # (N,) each, time-major
        row = order[rank]  # (N,)
        forward_position = row * timesteps + step  # (N,)
        backward_position = row * timesteps + lengths[row] - 1 - step  # (N,)
        return cls(order, batch_sizes, torch.stack([forward_position, backward_position]))


class ElmoLstm(torch.nn.Module):
    """Forward and backward stacks of LSTM-with-projection layers, optionally stateful across calls.

    Not registered: a part of `ElmoBiLm`.

    Parameters
        input_size: int                 I, size of the token vectors fed to the first layer.
        hidden_size: int                H, the projected output (and recurrent state `h`) per direction.
        cell_size: int                  C, the memory cell per direction.
        num_layers: int                 L, layers per direction.
        cell_clip: Optional[float] = None   clip `c` to [-cell_clip, cell_clip] at every step.
        proj_clip: Optional[float] = None   clip `h` to [-proj_clip, proj_clip] at every step.
        use_skip_connections: bool = False  add each layer's input to its output, except for layer 0.
        stateful: bool = True           carry the final states of each row into the next call.
    Inputs
        inputs: (B, T, I) float;  mask: (B, T) bool, True = token, each row a prefix (right padding).
    Outputs
        (L, B, T, 2H): for each layer, forward and backward outputs concatenated; zeros at padding.
    Attributes
        input_weights[l]: (2, I_l, 4C); recurrent_weights[l]: (2, H, 4C); biases[l]: (2, 4C);
        projection_weights[l]: (2, C, H). Index 0 of the first axis is the forward direction, 1 the
        backward one; the 4C gate columns are in TensorFlow's `[i, j, f, o]` order; row-vector
        convention (`x @ W`), i.e. exactly the layout of the bilm-tf weight file.
    Notes
        The backward stack reads each row right to left starting at its own last token (never at
        padding). Padding is never computed: rows are sorted longest first and step t runs only the
        rows with a token at t (one host sync per call reads the lengths), so a row's final state is
        the one after its last token.

        Stateful mode (README section 5): after each call, the final `(h, c)` of every row (forward:
        after the last token; backward: after the first) is kept. The next call starts row r from the
        state kept for row r; rows beyond the kept batch start at zero; kept rows beyond the new batch,
        and rows that are all padding, keep their old state. Kept states are detached. Stateless mode
        (`stateful=False`) starts every call from zero, so a sentence always gets the same vectors.
    """

    _h_state: Optional[torch.Tensor]
    _c_state: Optional[torch.Tensor]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        cell_size: int,
        num_layers: int,
        cell_clip: Optional[float] = None,
        proj_clip: Optional[float] = None,
        use_skip_connections: bool = False,
        stateful: bool = True,
    ) -> None:
        super().__init__()
        if num_layers < 1:  # run time: read from an ELMo options file ("lstm.n_layers"), not from a config
            raise ConfigurationError(f"expected at least 1 LSTM layer, found {num_layers}", "lstm.n_layers")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.cell_size = cell_size
        self.num_layers = num_layers
        self.cell_clip = cell_clip
        self.proj_clip = proj_clip
        self.use_skip_connections = use_skip_connections
        self.stateful = stateful
        gates = 4 * cell_size
        layer_inputs = [input_size] + [hidden_size] * (num_layers - 1)

        def parameter(*shape: int) -> torch.nn.Parameter:
            return torch.nn.Parameter(torch.empty(*shape))

        self.input_weights = torch.nn.ParameterList(parameter(2, size, gates) for size in layer_inputs)
        self.recurrent_weights = torch.nn.ParameterList(parameter(2, hidden_size, gates) for _ in layer_inputs)
        self.biases = torch.nn.ParameterList(parameter(2, gates) for _ in layer_inputs)
        self.projection_weights = torch.nn.ParameterList(parameter(2, cell_size, hidden_size) for _ in layer_inputs)
        # Kept states (L, 2, B_kept, H) and (L, 2, B_kept, C); buffers so that `.to(device)` moves them,
        # not persistent because they describe the text seen so far, not the model.
        self.register_buffer("_h_state", None, persistent=False)
        self.register_buffer("_c_state", None, persistent=False)
        # layer -> ((data_ptr, version) of recurrent_weights[layer], its (2, 4C, H) contiguous copy)
        self._step_weights: Dict[int, Tuple[Tuple[int, int], torch.Tensor]] = {}
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(fan), 1/sqrt(fan)) weights, as torch.nn.LSTM; zero biases."""
        for weights, fan in (
            (self.input_weights, self.cell_size),
            (self.recurrent_weights, self.cell_size),
            (self.projection_weights, self.cell_size),
        ):
            for weight in weights:
                torch.nn.init.uniform_(weight, -fan**-0.5, fan**-0.5)
        for bias in self.biases:
            torch.nn.init.zeros_(bias)

    @classmethod
    def from_options(cls, options: Dict[str, Any], stateful: bool = True, source: str = "options") -> "ElmoLstm":
        """Randomly initialised stacks with the sizes of a bilm-tf options dict."""
        projection_dim = option(options, "lstm.projection_dim", source=source)
        return cls(
            input_size=projection_dim,
            hidden_size=projection_dim,
            cell_size=option(options, "lstm.dim", source=source),
            num_layers=option(options, "lstm.n_layers", source=source),
            cell_clip=option(options, "lstm.cell_clip", None, source),
            proj_clip=option(options, "lstm.proj_clip", None, source),
            use_skip_connections=option(options, "lstm.use_skip_connections", False, source),
            stateful=stateful,
        )

    def load_weights(self, weight_file: str, h5file: Any = None) -> None:
        """Copy `RNN_{d}/RNN/MultiRNNCell/Cell{l}/LSTMCell/{W_0, B, W_P_0}` (README section 3)."""
        handle = open_weight_file(weight_file) if h5file is None else h5file
        try:
            gates = 4 * self.cell_size
            with torch.no_grad():
                for layer in range(self.num_layers):
                    input_size = self.input_weights[layer].size(1)
                    for direction in range(2):  # RNN_0 is the forward stack, RNN_1 the backward one
                        prefix = f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"
                        kernel = read_dataset(
                            handle, f"{prefix}/W_0", (input_size + self.hidden_size, gates), weight_file
                        )
                        # Rows of W_0 act on concat(x_t, h_{t-1}): the first I on x_t, the rest on h.
                        self.input_weights[layer][direction].copy_(kernel[:input_size])
                        self.recurrent_weights[layer][direction].copy_(kernel[input_size:])
                        self.biases[layer][direction].copy_(read_dataset(handle, f"{prefix}/B", (gates,), weight_file))
                        self.projection_weights[layer][direction].copy_(
                            read_dataset(handle, f"{prefix}/W_P_0", (self.cell_size, self.hidden_size), weight_file)
                        )
        finally:
            if h5file is None:
                handle.close()

    def reset_states(self) -> None:
        """Forget the kept states: the next call starts every row from zero."""
        self._h_state = None
        self._c_state = None

    def get_input_dim(self) -> int:
        return self.input_size

    def get_output_dim(self) -> int:
        return 2 * self.hidden_size

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch_size, timesteps, input_size = inputs.shape
        packing = _Packing.from_mask(mask.bool())
        # Both directions read their rows from time 0 of the packed order: the forward one at the
        # row's position t, the backward one at position length - 1 - t.
        flat_inputs = inputs.reshape(batch_size * timesteps, input_size)  # (B * T, I)
        layer_input = flat_inputs.index_select(0, packing.positions.view(-1)).view(2, -1, input_size)  # (2, N, I)

        h_state, c_state = self._initial_states(batch_size, inputs)  # (L, 2, B, H), (L, 2, B, C)
        h_state, c_state = h_state[:, :, packing.order], c_state[:, :, packing.order]  # sorted rows
        layer_outputs, final_h, final_c = [], [], []
        for layer in range(self.num_layers):
            output, h_last, c_last = self._run_layer(
                layer, layer_input, h_state[layer], c_state[layer], packing.batch_sizes
            )  # (2, N, H), (2, B, H), (2, B, C)
            if layer > 0 and self.use_skip_connections:
                output = output + layer_input  # the residual changes the output, not the state
            layer_outputs.append(output)
            final_h.append(h_last)
            final_c.append(c_last)
            layer_input = output
        if self.stateful:
            unsort = packing.order.argsort()  # (B,)
            self._keep_states(torch.stack(final_h)[:, :, unsort], torch.stack(final_c)[:, :, unsort])

        # Scatter the packed outputs into zeros: row-major (B, T, 2, H) slots, direction d of position p at
        # 2p + d, i.e. (B, T, 2H) with the forward half first.
        packed = torch.stack(layer_outputs).flatten(1, 2)  # (L, 2N, H)
        direction = torch.arange(2, device=inputs.device).unsqueeze(1)  # (2, 1)
        slots = (2 * packing.positions + direction).view(-1)  # (2N,)
        output = packed.new_zeros(self.num_layers, batch_size * timesteps * 2, self.hidden_size)
        output = output.index_copy(1, slots, packed)  # (L, B * T * 2, H)
        return output.view(self.num_layers, batch_size, timesteps, 2 * self.hidden_size)  # (L, B, T, 2H)

    def _run_layer(
        self,
        layer: int,
        inputs: torch.Tensor,
        h: torch.Tensor,
        c: torch.Tensor,
        batch_sizes: List[int],
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One layer of both directions over packed `inputs` (2, N, I_l), from states (2, B, ·) of sorted rows.

        Returns the packed outputs (2, N, H) and the final `(h, c)` of every row, in sorted order.
        """
        cell = self.cell_size
        recurrent_weight = self._step_weight(layer)  # (2, H, 4C)
        projection_weight = self.projection_weights[layer]  # (2, C, H)
        # The input half of every gate for all real positions in one batched matmul, bias included.
        input_part = torch.baddbmm(self.biases[layer].unsqueeze(1), inputs, self.input_weights[layer])  # (2, N, 4C)
        outputs, ended_h, ended_c = [], [], []
        start = 0
        for size in batch_sizes:
            if size < h.size(1):
                # Rows are sorted longest first, so the rows past `size` have just ended (or, at step 0,
                # have no token at all): their current state is their final one. Step only the others.
                ended_h.append(h[:, size:])
                ended_c.append(c[:, size:])
                h, c = h[:, :size], c[:, :size]  # (2, size, ·)
            gates = torch.baddbmm(input_part[:, start : start + size], h, recurrent_weight)  # (2, size, 4C)
            in_gate, candidate, forget_gate, out_gate = gates.split(cell, dim=-1)  # (2, size, C) each
            c = torch.sigmoid(forget_gate + FORGET_BIAS) * c + torch.sigmoid(in_gate) * torch.tanh(candidate)
            if self.cell_clip:
                c = c.clamp(-self.cell_clip, self.cell_clip)
            h = torch.bmm(torch.sigmoid(out_gate) * torch.tanh(c), projection_weight)  # (2, size, H)
            if self.proj_clip:
                h = h.clamp(-self.proj_clip, self.proj_clip)
            outputs.append(h)
            start += size
        # Sorted order again: the rows still running, then those that ended, latest first.
        final_h = torch.cat([h, *reversed(ended_h)], dim=1)  # (2, B, H)
        final_c = torch.cat([c, *reversed(ended_c)], dim=1)  # (2, B, C)
        packed = torch.cat(outputs, dim=1) if outputs else input_part.new_zeros(2, 0, self.hidden_size)
        return packed, final_h, final_c  # (2, N, H)

    def _step_weight(self, layer: int) -> torch.Tensor:
        """`recurrent_weights[layer]` (2, H, 4C) as the per-step matmul should read it.

        That product is skinny (rows x H times H x 4C, rows <= B) and runs 1.2-1.4x faster on CPU with the
        weight stored (4C, H), as `torch.nn.Linear` keeps its weight. When no gradient can reach the weight
        (inference, a frozen ELMo), the product reads a transposed copy, made once and remade whenever the
        weight changes (an optimizer step or `load_weights` bumps its version) or moves; in training it
        reads the parameter itself.
        """
        weight = self.recurrent_weights[layer]
        if weight.requires_grad and torch.is_grad_enabled():
            return weight
        key = (weight.data_ptr(), weight._version)
        cached = self._step_weights.get(layer)
        if cached is None or cached[0] != key:
            with torch.inference_mode(False):  # a normal tensor, usable outside inference mode too
                cached = (key, weight.detach().transpose(1, 2).contiguous())  # (2, 4C, H)
            self._step_weights[layer] = cached
        return cached[1].transpose(1, 2)  # (2, H, 4C)

    def _initial_states(self, batch_size: int, like: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        h = like.new_zeros(self.num_layers, 2, batch_size, self.hidden_size)  # (L, 2, B, H)
        c = like.new_zeros(self.num_layers, 2, batch_size, self.cell_size)  # (L, 2, B, C)
        if self.stateful and self._h_state is not None and self._c_state is not None:
            shared = min(batch_size, self._h_state.size(2))
            h[:, :, :shared] = self._h_state[:, :, :shared]
            c[:, :, :shared] = self._c_state[:, :, :shared]
        return h, c

    def _keep_states(self, h: torch.Tensor, c: torch.Tensor) -> None:
        """Store final states (L, 2, B, ·); rows of the kept batch beyond B are left untouched."""
        h, c = h.detach(), c.detach()
        # All-padding rows never advanced, so their final state already equals their kept state.
        if self._h_state is not None and self._c_state is not None and self._h_state.size(2) > h.size(2):
            kept_h, kept_c = self._h_state.clone(), self._c_state.clone()
            kept_h[:, :, : h.size(2)] = h
            kept_c[:, :, : c.size(2)] = c
            h, c = kept_h, kept_c
        self._h_state, self._c_state = h, c

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, cell_size={self.cell_size}, "
            f"num_layers={self.num_layers}, cell_clip={self.cell_clip}, proj_clip={self.proj_clip}, "
            f"use_skip_connections={self.use_skip_connections}, stateful={self.stateful}"
        )


class BiLm(torch.nn.Module):
    """What `Elmo` mixes: a bidirectional LM over ELMo character ids that returns all its layers.

    Implementations: `ElmoBiLm` (bilm-tf files) and `lmlab.models.elmo_lm.LanguageModelBiLm` (an lmlab LM).

    Inputs
        inputs: (B, T, 50) int64 character ids (`batch_to_ids`), without `<S>`/`</S>`;
        word_inputs: optional (B, T) int64 word ids, for a biLM with a word cache.
    Outputs
        {"activations": `num_layers` tensors (B, T + 2, D), "mask": (B, T + 2) bool}: `<S>` and `</S>`
        added around each row, zeros at padding, D = `get_output_dim()`.
    Attributes
        num_layers: the number of tensors in "activations".
    """

    num_layers: int

    def get_output_dim(self) -> int:
        """D, the size of every activation vector."""
        raise NotImplementedError

    def reset_states(self) -> None:
        """Forget any state carried from one call to the next (none by default)."""


class ElmoBiLm(BiLm):
    """A pretrained ELMo biLM (bilm-tf files) returning its three layers for each position.

    Not registered: use it through `Elmo`, or as a module of its own.

    Parameters
        options_file: str              bilm-tf `options.json`.
        weight_file: Optional[str]     bilm-tf hdf5 weights; None gives a randomly initialised model of
                                       the same sizes (for training an ELMo-style LM from scratch).
        requires_grad: bool = False    sets `requires_grad` of every parameter (fine-tuning).
        vocab_to_cache: Optional[List[str]] = None
                                       words whose character-encoder output is precomputed into a table;
                                       `forward` then accepts word ids (id i = word i, id 0 = padding).
        stateful: bool = True          carry LSTM states across calls row by row (see `ElmoLstm`), as
                                       bilm-tf did; False makes every call independent.
    Inputs
        inputs: (B, T, 50) int64 character ids from `batch_to_ids` (may be None when `word_inputs` is
        given and every id is cached);
        word_inputs: optional (B, T) int64 word ids into `vocab_to_cache`; used instead of `inputs`
        when a cache exists. If any id is outside the cache, the whole batch falls back to `inputs`.
    Outputs
        {"activations": L + 1 tensors (B, T + 2, 2P): layer 0 is the token vector duplicated, then
         one per LSTM layer (forward | backward); zeros at padding;
         "mask": (B, T + 2) bool, True at `<S>`, the tokens and `</S>`}.
        A row with no tokens is all padding: it gets no boundaries and does not touch its state.
    Attributes
        num_layers: L + 1, the number of tensors in "activations".
    Notes
        Padding slots are never computed: the character encoder counts the real tokens and the LSTMs
        read the row lengths, one host sync each per call. With a cache, checking for uncached ids is
        one more.
    """

    def __init__(
        self,
        options_file: str,
        weight_file: Optional[str],
        requires_grad: bool = False,
        vocab_to_cache: Optional[List[str]] = None,
        stateful: bool = True,
    ) -> None:
        super().__init__()
        options = load_elmo_options(options_file)
        self._token_embedder = ElmoCharacterEncoder.from_options(options, options_file)
        self._elmo_lstm = ElmoLstm.from_options(options, stateful=stateful, source=options_file)
        if weight_file is not None:
            handle = open_weight_file(weight_file)
            try:
                self._token_embedder.load_weights(weight_file, handle)
                self._elmo_lstm.load_weights(weight_file, handle)
            finally:
                handle.close()
        self._requires_grad = requires_grad
        for parameter in self.parameters():
            parameter.requires_grad_(requires_grad)
        self.num_layers = self._elmo_lstm.num_layers + 1
        self._word_embedding: Optional[torch.nn.Embedding] = None
        self.register_buffer("_bos_embedding", None, persistent=False)
        self.register_buffer("_eos_embedding", None, persistent=False)
        if vocab_to_cache:
            self.create_cached_cnn_embeddings(vocab_to_cache)

    def create_cached_cnn_embeddings(self, tokens: List[str], chunk_size: int = 1024) -> None:
        """Precompute the character-encoder output of `tokens` (and `<S>`, `</S>`) into a table.

        Row i of the table is the vector of `tokens[i]`; id 0 is treated as padding by `forward`, so
        `tokens[0]` should be a padding symbol. The table is trainable only if `requires_grad`.
        """
        vectors = []
        with torch.no_grad():
            device = self._token_embedder.boundary_char_ids.device
            for start in range(0, len(tokens), chunk_size):
                char_ids = torch.tensor(tokens_to_char_ids(tokens[start : start + chunk_size]), device=device)
                vectors.append(self._token_embedder.encode_char_ids(char_ids))  # (n, P)
            boundaries = torch.tensor([BOS_CHAR_IDS, EOS_CHAR_IDS], device=device)
            bos, eos = self._token_embedder.encode_char_ids(boundaries)  # (P,) each
        table = torch.cat(vectors)  # (V, P)
        self._word_embedding = torch.nn.Embedding.from_pretrained(
            table, freeze=not self._requires_grad, padding_idx=0
        )
        self._bos_embedding, self._eos_embedding = bos, eos

    @property
    def character_encoder(self) -> ElmoCharacterEncoder:
        return self._token_embedder

    @property
    def lstm(self) -> ElmoLstm:
        return self._elmo_lstm

    def reset_states(self) -> None:
        """Forget the LSTM states carried between calls."""
        self._elmo_lstm.reset_states()

    def get_output_dim(self) -> int:
        return self._elmo_lstm.get_output_dim()

    def forward(
        self, inputs: Optional[torch.Tensor], word_inputs: Optional[torch.Tensor] = None
    ) -> Dict[str, Any]:
        cache = self._word_embedding
        if word_inputs is not None and cache is not None and self._all_cached(cache, word_inputs, inputs):
            word_mask = word_inputs > 0  # (B, T)
            embedded = cache(word_inputs)  # (B, T, P)
            token_embedding, mask = add_sentence_boundaries(
                embedded, word_mask, self._bos_embedding, self._eos_embedding
            )  # (B, T + 2, P), (B, T + 2)
        else:
            if inputs is None:
                raise ValueError("ElmoBiLm needs character ids `inputs` (there is no word cache to use)")
            encoded = self._token_embedder(inputs)
            token_embedding, mask = encoded["token_embedding"], encoded["mask"]  # (B, T + 2, P), (B, T + 2)
        lstm_outputs = self._elmo_lstm(token_embedding, mask)  # (L, B, T + 2, 2P)
        # Layer 0 is duplicated so that all layers have the same width 2P and can be mixed.
        type_layer = torch.cat([token_embedding, token_embedding], dim=-1) * mask.unsqueeze(-1).to(
            token_embedding.dtype
        )  # (B, T + 2, 2P)
        return {"activations": [type_layer, *lstm_outputs.unbind(0)], "mask": mask}

    @staticmethod
    def _all_cached(cache: torch.nn.Embedding, word_inputs: torch.Tensor, inputs: Optional[torch.Tensor]) -> bool:
        vocab_size = cache.num_embeddings
        # Host sync (once per call): whether to use the cache decides which code runs.
        if bool(((word_inputs < 0) | (word_inputs >= vocab_size)).any()):
            if inputs is None:
                raise ValueError(
                    f"word ids outside the cached vocabulary (0..{vocab_size - 1}) and no character ids to fall back on"
                )
            return False
        return True

    def extra_repr(self) -> str:
        cached = 0 if self._word_embedding is None else self._word_embedding.num_embeddings
        return f"num_layers={self.num_layers}, requires_grad={self._requires_grad}, cached_words={cached}"
