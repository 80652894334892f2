from types import SimpleNamespace

import torch

from lmlab.modules.seq2seq_encoders import DenseRnn
from lmlab.training import TrainerCallback


def test_clip_gates_callback_clips_the_trainers_model_after_each_batch():
    encoder = DenseRnn(3, 2, num_layers=2)
    encoder.set_gates_trainable(True)
    with torch.no_grad():
        encoder.gates.copy_(torch.tensor([-0.25, 1.25]))
    callback = TrainerCallback.from_params({"type": "clip_gates"})
    callback.on_batch(SimpleNamespace(model=torch.nn.Sequential(encoder)), {}, epoch=0, step=1)
    assert encoder.gates.tolist() == [0.0, 1.0]
