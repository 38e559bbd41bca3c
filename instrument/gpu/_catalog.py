"""Metric specs for the NVML GPU plane. See :mod:`infersight.instrument.metrics.catalog`.

Every device metric carries the labels ``gpu`` (NVML index, ``"0"``; a MIG instance is
``"0/mig1"``), ``uuid`` and ``name``. Over OTLP the same values go out under the OTel
``hw.*`` semantic-convention names where one exists (``hw.gpu.utilization``, ``hw.power``,
``hw.energy``, ``hw.temperature``, ``hw.gpu.memory.usage|limit``, ``hw.errors``) with the
attributes ``hw.id`` (uuid), ``hw.name``, ``hw.type="gpu"`` and ``gpu.index``, and under
``infersight.gpu.*`` otherwise. The sampler reads NVML on a background thread (10 Hz by
default); the scrape path only reads the cached last sample.
"""

from __future__ import annotations

from infersight.instrument.metrics._spec import MetricSpec

DEVICE_LABELS: tuple[str, ...] = ("gpu", "uuid", "name")

METRICS: tuple[MetricSpec, ...] = (
    # --- plane health -------------------------------------------------------------------
    MetricSpec("infersight_gpu_up", "gauge",
               "1 when NVML is loaded and at least one GPU was read in the last sweep, else 0 "
               "(no GPU, no driver, no pynvml, or the driver went away).",
               otel_name="infersight.gpu.up", source="gpu"),
    MetricSpec("infersight_gpu", "info",
               "One series per sampled GPU or MIG instance: its index, uuid, name and driver.",
               labels=(*DEVICE_LABELS, "driver_version", "parent"), source="gpu"),
    MetricSpec("infersight_gpu_sweeps", "counter",
               "NVML sampling sweeps completed by the background sampler.",
               otel_name="infersight.gpu.sweeps", source="gpu"),
    MetricSpec("infersight_gpu_sweep_duration_seconds", "gauge",
               "Wall time of the last NVML sampling sweep (all devices, all fields).",
               unit="s", otel_name="infersight.gpu.sweep.duration", source="gpu"),
    MetricSpec("infersight_gpu_read_errors", "counter",
               "NVML reads that failed, by field (an unsupported field is dropped after one error).",
               labels=("gpu", "field"), otel_name="infersight.gpu.read.errors", source="gpu"),
    # --- utilization and memory ---------------------------------------------------------
    MetricSpec("infersight_gpu_utilization_ratio", "gauge",
               "Fraction of the last sample period in which a kernel ran on the GPU "
               "(NVML utilization.gpu; OTel hw.gpu.utilization, hw.gpu.task=general).",
               unit="1", labels=DEVICE_LABELS, otel_name="hw.gpu.utilization", source="gpu"),
    MetricSpec("infersight_gpu_memory_busy_ratio", "gauge",
               "Fraction of the last sample period in which device memory was read or written "
               "(NVML utilization.memory).",
               unit="1", labels=DEVICE_LABELS, otel_name="infersight.gpu.memory.busy", source="gpu"),
    MetricSpec("infersight_gpu_memory_used_bytes", "gauge",
               "Framebuffer memory in use (OTel hw.gpu.memory.usage, an UpDownCounter there).",
               unit="By", labels=DEVICE_LABELS, otel_name="hw.gpu.memory.usage", source="gpu"),
    MetricSpec("infersight_gpu_memory_free_bytes", "gauge",
               "Framebuffer memory free.",
               unit="By", labels=DEVICE_LABELS, otel_name="infersight.gpu.memory.free", source="gpu"),
    MetricSpec("infersight_gpu_memory_reserved_bytes", "gauge",
               "Framebuffer memory reserved by the driver/firmware (NVML memory info v2).",
               unit="By", labels=DEVICE_LABELS, otel_name="infersight.gpu.memory.reserved",
               source="gpu"),
    MetricSpec("infersight_gpu_memory_total_bytes", "gauge",
               "Framebuffer memory size (OTel hw.gpu.memory.limit, an UpDownCounter there).",
               unit="By", labels=DEVICE_LABELS, otel_name="hw.gpu.memory.limit", source="gpu"),
    MetricSpec("infersight_gpu_process_memory_used_bytes", "gauge",
               "GPU memory used by one compute process (NVML compute running processes); "
               "process_name from /proc/<pid>/comm (\"\" when not visible), consumer self|other.",
               unit="By", labels=(*DEVICE_LABELS, "pid", "process_name", "consumer"),
               otel_name="infersight.gpu.process.memory.usage", source="gpu"),
    MetricSpec("infersight_gpu_process_utilization_ratio", "gauge",
               "Fraction of the driver's last sample periods in which one process ran kernels "
               "(NVML per-process utilisation, read on the slow tier only while another process "
               "holds a context on the GPU); pid 0 = another process NVML cannot name.",
               unit="1", labels=(*DEVICE_LABELS, "pid", "process_name", "consumer"),
               otel_name="infersight.gpu.process.utilization", source="gpu"),
    MetricSpec("infersight_gpu_share_measured", "gauge",
               "1 while the split of this GPU between processes is measured (per-process "
               "utilisation, or only this process holds a context), 0 while it falls back to "
               "the whole device utilisation (per-process figures unsupported).",
               labels=(*DEVICE_LABELS, "source"), otel_name="infersight.gpu.share.measured",
               source="gpu"),
    # --- power and energy ---------------------------------------------------------------
    MetricSpec("infersight_gpu_power_watts", "gauge",
               "Power draw (OTel hw.power).",
               unit="W", labels=DEVICE_LABELS, otel_name="hw.power", source="gpu"),
    MetricSpec("infersight_gpu_power_limit_watts", "gauge",
               "Enforced power limit.",
               unit="W", labels=DEVICE_LABELS, otel_name="infersight.gpu.power.limit", source="gpu"),
    MetricSpec("infersight_gpu_energy_joules", "counter",
               "Energy consumed since the driver was loaded (NVML total energy; OTel hw.energy).",
               unit="J", labels=DEVICE_LABELS, otel_name="hw.energy", source="gpu"),
    # --- clocks, temperature, P-state, throttling ---------------------------------------
    MetricSpec("infersight_gpu_sm_clock_hertz", "gauge",
               "Current SM clock.",
               unit="Hz", labels=DEVICE_LABELS, otel_name="infersight.gpu.clock.sm", source="gpu"),
    MetricSpec("infersight_gpu_sm_clock_max_hertz", "gauge",
               "Maximum SM clock of the device.",
               unit="Hz", labels=DEVICE_LABELS, otel_name="infersight.gpu.clock.sm.max", source="gpu"),
    MetricSpec("infersight_gpu_memory_clock_hertz", "gauge",
               "Current memory clock.",
               unit="Hz", labels=DEVICE_LABELS, otel_name="infersight.gpu.clock.memory",
               source="gpu"),
    MetricSpec("infersight_gpu_temperature_celsius", "gauge",
               "GPU die temperature (OTel hw.temperature).",
               unit="Cel", labels=DEVICE_LABELS, otel_name="hw.temperature", source="gpu"),
    MetricSpec("infersight_gpu_pstate", "gauge",
               "Performance state, 0 (max performance) .. 15 (min).",
               labels=DEVICE_LABELS, otel_name="infersight.gpu.pstate", source="gpu"),
    MetricSpec("infersight_gpu_clock_event_active", "gauge",
               "1 while NVML reports this clock-event (throttle) reason, else 0 "
               "(idle, sw_power_cap, hw_slowdown, sw_thermal, hw_thermal, hw_power_brake, "
               "sync_boost, applications_clocks, display_clocks).",
               labels=(*DEVICE_LABELS, "reason"), otel_name="infersight.gpu.clock_event.active",
               source="gpu"),
    MetricSpec("infersight_gpu_throttled", "gauge",
               "1 while clocks are held down by power or thermal limits or a hardware slowdown.",
               labels=DEVICE_LABELS, otel_name="infersight.gpu.throttled", source="gpu"),
    MetricSpec("infersight_gpu_pcie_throughput_bytes_per_second", "gauge",
               "PCIe throughput over NVML's 20 ms window, by direction (transmit/receive).",
               unit="By/s", labels=(*DEVICE_LABELS, "direction"),
               otel_name="infersight.gpu.pcie.throughput", source="gpu"),
    # --- errors -------------------------------------------------------------------------
    MetricSpec("infersight_gpu_ecc_errors", "counter",
               "ECC errors since the driver was loaded (volatile), by type "
               "(OTel hw.errors, error.type=corrected|uncorrected).",
               labels=(*DEVICE_LABELS, "type"), otel_name="hw.errors", source="gpu"),
    MetricSpec("infersight_gpu_xid_errors", "counter",
               "Critical XID errors seen by the sampler's NVML event set, by XID code.",
               labels=(*DEVICE_LABELS, "xid"), otel_name="infersight.gpu.xid.errors", source="gpu"),
    # --- attribution and cost -----------------------------------------------------------
    MetricSpec("infersight_gpu_attributed_energy_joules", "counter",
               "GPU energy attributed to finished requests (split across concurrent requests).",
               unit="J", otel_name="infersight.gpu.attributed.energy", source="gpu"),
    MetricSpec("infersight_gpu_idle_energy_joules", "counter",
               "GPU energy attributed neither to a request nor to another process: this "
               "process's share while no request was in flight, and idle time (attributed + "
               "idle + consumer=\"other\" = the integrated power).",
               unit="J", otel_name="infersight.gpu.idle.energy", source="gpu"),
    MetricSpec("infersight_gpu_consumer_energy_joules", "counter",
               "GPU energy (integrated power of the sampled GPUs) by consumer: self (this "
               "process: its requests and its own work outside them), other (other processes, "
               "by their measured share of the GPU's time), idle (no process busy, or this "
               "process serving without GPU work); self + other + idle = the integrated power.",
               unit="J", labels=("consumer",), otel_name="infersight.gpu.consumer.energy",
               source="gpu"),
    MetricSpec("infersight_gpu_consumer_seconds", "counter",
               "GPU-seconds (wall time x GPUs) by consumer, split like the energy.",
               unit="s", labels=("consumer",), otel_name="infersight.gpu.consumer.time",
               source="gpu"),
    MetricSpec("infersight_gpu_process_energy_joules", "counter",
               "GPU energy by process: this process (consumer self) and each other process that "
               "ran kernels (consumer other; pid 0 = unnamed), so a finding can name it.",
               unit="J", labels=("pid", "process_name", "consumer"),
               otel_name="infersight.gpu.process.energy", source="gpu"),
    MetricSpec("infersight_gpu_allocation_failures", "counter",
               "GPU allocation failures of this process by kind (oom | alloc_retry) and source "
               "(app: record_gpu_oom(); torch: the caching allocator's num_ooms / "
               "num_alloc_retries). Both sources often count the same event: take the max.",
               labels=("kind", "source"), otel_name="infersight.gpu.memory.allocation_failures",
               source="gpu"),
    MetricSpec("infersight_gpu_attributed_cost_usd", "counter",
               "GPU cost attributed to finished requests at the configured price per GPU-hour.",
               unit="USD", otel_name="infersight.gpu.attributed.cost", source="gpu"),
    MetricSpec("infersight_gpu_price_per_hour_usd", "gauge",
               "Configured price of one GPU-hour and where it came from (explicit, instance "
               "type or GPU model in the built-in table).",
               unit="USD", labels=("instance_type", "price_source"), source="gpu"),
)
