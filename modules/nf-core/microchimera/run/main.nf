process MICROCHIMERA_RUN {
    tag "$meta.id"
    label 'process_medium'

    conda "${moduleDir}/environment.yml"
    // The BioContainers image exists once bioconda builds the package (recipe/meta.yaml);
    // its tag then gains the build string, e.g. 0.1.0--py311h<hash>_0.
    container "${ workflow.containerEngine in ['singularity', 'apptainer'] && !task.ext.singularity_pull_docker_container ?
        'https://depot.galaxyproject.org/singularity/microchimera:0.1.0' :
        'biocontainers/microchimera:0.1.0' }"

    input:
    tuple val(meta), path(bam), path(bai)
    tuple val(meta2), path(genotypes), path(pedigree)
    tuple val(meta3), path(sites)
    tuple val(meta4), path(fasta)

    output:
    tuple val(meta), path("${prefix}/result.json")   , emit: json
    tuple val(meta), path("${prefix}/result.tsv")    , emit: tsv
    tuple val(meta), path("${prefix}/report.html")   , emit: html   , optional: true
    tuple val(meta), path("${prefix}/counts.parquet"), emit: counts
    tuple val(meta), path("${prefix}/fragments.parquet"), emit: fragments, optional: true
    tuple val(meta), path("${prefix}/*_mqc.json")    , emit: multiqc, optional: true
    path "versions.yml"                              , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix = task.ext.prefix ?: "${meta.id}"
    // People's IDs reach the command line unquoted: allow only the characters of a PED ID.
    def ids = ([meta.host] + (meta.donors ?: [])).findAll { it != null }
    def bad = ids.find { !(it.toString() ==~ /[A-Za-z0-9._-]+/) }
    if (bad != null) {
        error "MICROCHIMERA_RUN ${meta.id}: person ID '${bad}' has characters outside [A-Za-z0-9._-]"
    }
    def host      = meta.host   ? "--host ${meta.host}" : ''
    def donors    = meta.donors ? "--donors ${meta.donors.join(',')}" : ''
    def family    = genotypes   ? "--genotypes ${genotypes} --pedigree ${pedigree}" : ''
    def reference = fasta       ? "--reference ${fasta}" : ''
    """
    microchimera run \\
        ${bam} \\
        --sites ${sites} \\
        ${family} \\
        ${host} \\
        ${donors} \\
        ${reference} \\
        --threads ${task.cpus} \\
        --quiet \\
        ${args} \\
        --outdir ${prefix}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        microchimera: \$(microchimera --version | sed 's/^microchimera //')
    END_VERSIONS
    """

    stub:
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    mkdir -p ${prefix}
    echo '{}' > ${prefix}/result.json
    touch ${prefix}/result.tsv
    touch ${prefix}/report.html
    touch ${prefix}/counts.parquet
    touch ${prefix}/fragments.parquet
    touch ${prefix}/${prefix}_microchimera_mqc.json

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        microchimera: \$(microchimera --version | sed 's/^microchimera //')
    END_VERSIONS
    """
}
