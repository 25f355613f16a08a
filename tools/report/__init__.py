"""lorafgc report generation, one module per workload: lora (sweep results of
lorafgc-sweep, with its helpers results, phase, fits and figures), looped and
icl (the experiment drivers' results). gbench reads Google Benchmark outputs
for all three; common holds the formatting and figure saving they share."""
