"""Checkpoints made offline for the models tests: a tiny random Whisper, and the embedded tiny.en exported."""

from __future__ import annotations

from pathlib import Path

import pytest

from asr_service.engines._model_files import resolve_model

pytest.importorskip("transformers", reason="needs the convert extra: pip install 'asr-service[convert]'")


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised Whisper (1 layer each side, d_model 64) with tiny.en's tokenizer, saved as
    `transformers` saves a fine-tuned checkpoint."""
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.WhisperConfig(
        vocab_size=51864, num_mel_bins=80, d_model=64, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128,
        max_source_positions=1500, max_target_positions=448, decoder_start_token_id=50257,
        bos_token_id=50256, eos_token_id=50256, pad_token_id=50256, suppress_tokens=[1, 2, 7],
        begin_suppress_tokens=[220, 50256])
    path = tmp_path_factory.mktemp("random-whisper")
    model = transformers.WhisperForConditionalGeneration(config)
    # transformers zeroes the padding token's embedding row: the onnxruntime model's int8 quantization
    # must take an all-zero row (it used to warn "overflow", which the suite turns into an error)
    assert not model.model.decoder.embed_tokens.weight[config.pad_token_id].any()
    model.save_pretrained(str(path))
    tokenizer_file = resolve_model("tiny.en").path / "tokenizer.json"
    transformers.WhisperTokenizer(tokenizer_file=str(tokenizer_file)).save_pretrained(str(path))
    transformers.WhisperFeatureExtractor(feature_size=80).save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_en_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded tiny.en written as a `transformers` checkpoint (`asr models export-hf tiny.en`)."""
    from asr_service.models import export_hf

    return export_hf(resolve_model("tiny.en").path, tmp_path_factory.mktemp("hf") / "tiny.en-hf").path


@pytest.fixture(scope="session")
def tiny_en_imported(tiny_en_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The exported tiny.en imported again (`asr models import`): the round trip."""
    from asr_service.models import import_checkpoint

    return import_checkpoint(tiny_en_checkpoint, tmp_path_factory.mktemp("ct2") / "tiny.en-imported").path
