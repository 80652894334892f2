"""Seq2seq encoders: (B, T, H_in) + mask -> (B, T, H_out). Importing this package registers them all."""
from lmlab.modules.seq2seq_encoders.basic_rnn import BasicRnn
from lmlab.modules.seq2seq_encoders.bidirectional_lm_lstm import BidirectionalLmLstm
from lmlab.modules.seq2seq_encoders.bidirectional_lm_transformer import BidirectionalLmTransformer
from lmlab.modules.seq2seq_encoders.dense_rnn import DenseRnn
from lmlab.modules.seq2seq_encoders.elmo_lstm import ElmoLstmSeq2SeqEncoder
from lmlab.modules.seq2seq_encoders.ld_rnn import LdRnn
from lmlab.modules.seq2seq_encoders.lstm import GruSeq2SeqEncoder, LstmSeq2SeqEncoder
from lmlab.modules.seq2seq_encoders.pretrained_transformer import PretrainedTransformerEncoder
from lmlab.modules.seq2seq_encoders.rnn_stack import RnnLayer, RnnStack
from lmlab.modules.seq2seq_encoders.seq2seq_encoder import Seq2SeqEncoder
from lmlab.modules.seq2seq_encoders.stateful_encoder import StatefulEncoder
from lmlab.modules.seq2seq_encoders.transformer import CausalTransformerEncoder, TransformerStack

__all__ = ["BasicRnn", "BidirectionalLmLstm", "BidirectionalLmTransformer", "CausalTransformerEncoder", "DenseRnn",
           "ElmoLstmSeq2SeqEncoder", "GruSeq2SeqEncoder", "LdRnn", "LstmSeq2SeqEncoder",
           "PretrainedTransformerEncoder", "RnnLayer", "RnnStack",
           "Seq2SeqEncoder", "StatefulEncoder", "TransformerStack"]
