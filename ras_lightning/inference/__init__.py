"""Inference: the authors' test protocol around the network
(:mod:`ras_lightning.data.protocol`), the batching predictor base (:mod:`.predictor`), the
PyTorch and ONNX Runtime backends (:mod:`.torch_predictor`, :mod:`.onnx_predictor` with its
cache :mod:`.onnx_cache`), the choice between them (:mod:`.backends`), the Python API
(:mod:`.saliency_predictor`); ``eval``'s test sets, maps and scores (:mod:`.evaluation`);
what ``predict`` reads (:mod:`.inputs`), runs (:mod:`.files`) and writes: output types
(:mod:`.outputs`) and videos (:mod:`.video`)."""
