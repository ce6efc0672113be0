// Test data of the module's nf-test: microchimera's built-in demo family (a mother's brain
// with DNA of a son, a daughter and an early loss), simulated with a fixed seed. Not part
// of the module; nf-core's shared test datasets have no microchimeric sample.
process MICROCHIMERA_SIMULATE_DEMO {
    tag "demo"
    label 'process_low'

    conda "${moduleDir}/../environment.yml"
    container "${ workflow.containerEngine in ['singularity', 'apptainer'] && !task.ext.singularity_pull_docker_container ?
        'https://depot.galaxyproject.org/singularity/microchimera:0.1.0' :
        'biocontainers/microchimera:0.1.0' }"

    input:
    val seed

    output:
    tuple path("demo/mother_brain.bam"), path("demo/mother_brain.bam.bai"), emit: bam
    tuple path("demo/family.vcf.gz"), path("demo/family.ped")            , emit: family
    path "demo/sites.vcf.gz"                                             , emit: sites

    script:
    """
    microchimera simulate builtin:demo --outdir demo --seed ${seed} --threads ${task.cpus} --quiet
    """

    stub:
    """
    mkdir -p demo
    touch demo/mother_brain.bam demo/mother_brain.bam.bai
    touch demo/family.vcf.gz demo/family.ped demo/sites.vcf.gz
    """
}
