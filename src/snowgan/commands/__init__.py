"""One module per `snowgan --mode`: parse-free entry points ``fn(cfg, given) -> exit code``.

cli.py maps each mode to its function here. Commands may import any library module
(data, models, train, metrics, report, export); library modules never import a command.

    train.py     --mode train: process group, run folder, the Trainer, exit codes
    generate.py  --mode generate
    prepare.py   --mode prepare
    evaluate.py  --mode evaluate, --mode features
    media.py     --mode interpolate, average, progress, report
    export.py    --mode export
    probe.py     --mode probe, --mode predict
    common.py    the --out/--force check, the device
"""
