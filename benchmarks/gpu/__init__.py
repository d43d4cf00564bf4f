"""The parts of ``benchmarks/gpu_check.py``: what runs (:mod:`.plan`), the stage processes'
side (:mod:`.context`, :mod:`.stages`), the scheduler that runs them (:mod:`.runner`) and the
markdown tables (:mod:`.report`). The offline installer is ``benchmarks/gpu_install.py``."""
