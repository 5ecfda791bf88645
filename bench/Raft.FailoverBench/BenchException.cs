namespace Raft.FailoverBench;

/// <summary>The run cannot go on (a cluster did not start, a tool is missing): its message is for the user, without a stack trace.</summary>
internal sealed class BenchException : Exception
{
    public BenchException()
    {
    }

    public BenchException(string message)
        : base(message)
    {
    }

    public BenchException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
