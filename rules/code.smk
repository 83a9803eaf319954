# Code records: for each workflow script, the package modules it runs (its imports, followed
# through the package) with their SHA-256, by sha256sum (`sha256sum --check` in the checkout
# compares them with the code at hand). Each rule takes its script's record as an input
# (common.smk code_of): editing a module rewrites the records of the scripts that run it, and so
# reruns exactly the jobs using it.


rule code_record:
    input:
        modules_of,
    output:
        "results/code/{script}.sha256",
    log:
        "logs/code_record/{script}.log",
    # first: each takes a moment, and every job waits for its script's record (the CNN's training,
    # the demo's longest chain, otherwise waited for a core after the FER set was made)
    priority: 100
    localrule: True
    conda:
        "../envs/vision.yaml"
    params:
        root=workflow.basedir,
        modules=lambda wildcards, input: [
            os.path.relpath(f, workflow.basedir) for f in input
        ],
    shell:
        "(cd {params.root:q} && sha256sum -- {params.modules:q} < /dev/null) > {output:q} 2> {log:q}"
