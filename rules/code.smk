# Code records: for each workflow script, the package modules it runs (its imports, followed
# through the package) with their SHA-256, in sha256sum's format. Each rule takes its script's
# record as an input (common.smk code_of): editing a module rewrites the records of the scripts
# that run it, and so reruns exactly the jobs using it. Written in the workflow's own process.


rule code_record:
    input:
        modules_of,
    output:
        "results/code/{script}.sha256",
    log:
        "logs/code_record/{script}.log",
    localrule: True
    run:
        write_code_record(output[0], input, log[0])
