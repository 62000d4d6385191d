"""Checks the scenario plug-in mechanism itself (docs/hwsim.md)."""
TIMEOUT = 300


def domu_files(c, ctx):
    c.data('hwsim/steps/plugin-step.sh', 'echo "ATOLL-PLUGIN-STEP ran"\n')


def on_line(line, ctx):
    if line.strip() == 'HWSIM: HOST qmp-status':
        ctx.reply(ctx.qmp('query-status')['status'])
